/**
 * Recorded snapshot look-ups: the invalidation rule of the compiler's memoised translations
 * (docs/adr/0019). A translation runs against a recording view of the snapshot; every look-up it
 * makes (method, arguments, what came back) is kept with its result. The result may be reused
 * with a later snapshot only if each of those look-ups returns the same thing there: the same
 * object, or for lists the same objects in the same order. Inputs are immutable (informers
 * replace an object on change, never edit it), so the same objects mean the same content.
 */
import { freezeDeep } from "../envoy/immutable.js";
import type { Snapshot } from "../model/snapshot.js";

type LookupName = "service" | "serviceForHost" | "endpointSlices" | "podLabels" | "secret" | "destinationRulesForHost";

interface Lookup {
  name: LookupName;
  args: readonly string[];
  result: unknown;
}

const lookupNames: readonly LookupName[] = ["service", "serviceForHost", "endpointSlices", "podLabels", "secret", "destinationRulesForHost"];

function call(snapshot: Snapshot, name: LookupName, args: readonly string[]): unknown {
  // Every look-up takes one or two strings; called directly (no spread) on the hot re-check path.
  return (snapshot[name] as (a?: string, b?: string) => unknown).call(snapshot, args[0], args[1]);
}

function sameResult(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  return a.every((item, index) => item === b[index]);
}

export interface LookupRecord {
  /** The snapshot view to run the translation against. */
  readonly snapshot: Snapshot;
  /**
   * The look-ups made so far (each distinct one once), or undefined when the translation read a
   * whole list (gateways, virtualServices, destinationRules): its result depends on everything,
   * so it is not reusable.
   */
  lookups(): readonly Lookup[] | undefined;
}

export function recordLookups(snapshot: Snapshot): LookupRecord {
  const seen = new Map<string, Lookup>();
  let readLists = false;
  const view: Record<string, unknown> = {};
  for (const name of lookupNames) {
    view[name] = (...args: string[]) => {
      const result = call(snapshot, name, args);
      const key = `${name}\u0000${args.join("\u0000")}`;
      if (!seen.has(key)) seen.set(key, { name, args, result });
      return result;
    };
  }
  for (const list of ["gateways", "virtualServices", "destinationRules"] as const) {
    Object.defineProperty(view, list, {
      enumerable: true,
      get: () => {
        readLists = true;
        return snapshot[list];
      },
    });
  }
  return {
    snapshot: Object.freeze(view) as unknown as Snapshot,
    lookups: () => (readLists ? undefined : [...seen.values()]),
  };
}

/** Whether every recorded look-up returns the same thing from `snapshot` (see the module comment). */
export function lookupsHold(snapshot: Snapshot, lookups: readonly Lookup[]): boolean {
  return lookups.every((lookup) => sameResult(call(snapshot, lookup.name, lookup.args), lookup.result));
}

/** A memoised result with the look-ups it was built from. */
export interface Memo<V> {
  readonly lookups: readonly Lookup[];
  readonly value: V;
}

/**
 * The compiler's one memoisation rule: `memo`'s value while its look-ups hold in `snapshot`;
 * otherwise `build` runs against a recording view, its result is deeply frozen, and `keep`
 * receives the new memo — unless the build read a whole list (its result depends on everything,
 * so it is not kept).
 */
export function reuseOrBuild<V>(snapshot: Snapshot, memo: Memo<V> | undefined, build: (view: Snapshot) => V, keep: (memo: Memo<V>) => void): V {
  if (memo && lookupsHold(snapshot, memo.lookups)) return memo.value;
  const record = recordLookups(snapshot);
  const value = freezeDeep(build(record.snapshot));
  const lookups = record.lookups();
  if (lookups !== undefined) keep({ lookups, value });
  return value;
}

/** Sets `key` as the newest entry of `map`, dropping the oldest entry beyond `limit`. */
export function setNewest<K, V>(map: Map<K, V>, key: K, value: V, limit: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > limit) map.delete(map.keys().next().value as K);
}
