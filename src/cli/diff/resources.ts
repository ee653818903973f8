/**
 * What changes in one proxy's Envoy config between two compiles: per resource a unified diff of
 * its YAML, and a one-line summary counting what a person thinks in — listeners, virtual hosts,
 * routes, clusters, endpoints, secrets ("+1 virtual host, ~2 routes, -1 cluster"). Pure.
 *
 * Private keys never appear: a secret's `private_key` is replaced by a digest of it, so a key
 * rotation still shows as a change.
 */
import { createHash } from "node:crypto";
import { dump } from "js-yaml";
import { envoyJson } from "../../envoy/cluster.js";
import { mapObjects } from "../../envoy/layout.js";
import type { EnvoyJson, EnvoyResource, EnvoyResources, JsonValue } from "../../envoy/resources.js";
import { unifiedDiff } from "./text.js";

export type ResourceKind = "listeners" | "routes" | "clusters" | "endpoints" | "secrets";
export const resourceKinds: readonly ResourceKind[] = ["listeners", "routes", "clusters", "endpoints", "secrets"];

export interface ResourceChange {
  kind: ResourceKind;
  name: string;
  change: "added" | "removed" | "changed";
  /** Unified diff of the resource's YAML (`a/<kind>/<name>` → `b/<kind>/<name>`). */
  diff: string;
}

interface Tally {
  added: number;
  removed: number;
  changed: number;
}

export interface ConfigDiff {
  changes: ResourceChange[];
  /** Per counted unit (listener, virtual host, route, cluster, endpoint, secret, route config). */
  tallies: Record<Unit, Tally>;
  summary: string;
}

type Unit = "listener" | "route config" | "virtual host" | "route" | "cluster" | "endpoint" | "secret";
const units: readonly Unit[] = ["listener", "route config", "virtual host", "route", "cluster", "endpoint", "secret"];
const unitOfKind: Record<ResourceKind, Unit | undefined> = { listeners: "listener", routes: "route config", clusters: "cluster", endpoints: undefined, secrets: "secret" };

function redactKeys(resource: EnvoyJson): JsonValue {
  return mapObjects(resource, (node) => {
    const key = node.private_key as EnvoyJson | undefined;
    if (key && typeof key === "object" && !Array.isArray(key)) {
      const material = JSON.stringify(key);
      node.private_key = { redacted: `sha256:${createHash("sha256").update(material).digest("hex").slice(0, 16)}` };
    }
    return node;
  });
}

/** The YAML a diff shows for a resource (private keys replaced by their digest). */
export function resourceYaml(resource: EnvoyResource): string {
  return dump(redactKeys(envoyJson(resource)), { noRefs: true, lineWidth: -1, sortKeys: false });
}

function emptyTallies(): Record<Unit, Tally> {
  return Object.fromEntries(units.map((unit) => [unit, { added: 0, removed: 0, changed: 0 }])) as Record<Unit, Tally>;
}

function asObjects(value: JsonValue | undefined): EnvoyJson[] {
  return Array.isArray(value) ? value.filter((item): item is EnvoyJson => typeof item === "object" && item !== null && !Array.isArray(item)) : [];
}

/** Counts added/removed/changed items keyed by `keyOf`; same key, different JSON = changed. */
function tallyKeyed(before: readonly EnvoyJson[], after: readonly EnvoyJson[], keyOf: (item: EnvoyJson) => string, tally: Tally): void {
  const old = new Map(before.map((item) => [keyOf(item), JSON.stringify(item)]));
  const next = new Map(after.map((item) => [keyOf(item), JSON.stringify(item)]));
  for (const [key, text] of next) {
    if (!old.has(key)) tally.added++;
    else if (old.get(key) !== text) tally.changed++;
  }
  for (const key of old.keys()) if (!next.has(key)) tally.removed++;
}

/**
 * Routes have no stable key (Istio names them only when the VirtualService does): routes equal in
 * content match up, and of the rest, as many as both sides have are "changed", the surplus
 * added or removed.
 */
function tallyRoutes(before: readonly EnvoyJson[], after: readonly EnvoyJson[], tally: Tally): void {
  const remaining = new Map<string, number>();
  for (const route of before) {
    const text = JSON.stringify(route);
    remaining.set(text, (remaining.get(text) ?? 0) + 1);
  }
  let unmatchedNew = 0;
  for (const route of after) {
    const text = JSON.stringify(route);
    const count = remaining.get(text) ?? 0;
    if (count > 0) remaining.set(text, count - 1);
    else unmatchedNew++;
  }
  const unmatchedOld = [...remaining.values()].reduce((sum, count) => sum + count, 0);
  const changed = Math.min(unmatchedOld, unmatchedNew);
  tally.changed += changed;
  tally.added += unmatchedNew - changed;
  tally.removed += unmatchedOld - changed;
}

function tallyRouteConfig(before: EnvoyJson | undefined, after: EnvoyJson | undefined, tallies: Record<Unit, Tally>): void {
  const oldHosts = new Map(asObjects(before?.virtual_hosts).map((host) => [String(host.name), host]));
  const newHosts = new Map(asObjects(after?.virtual_hosts).map((host) => [String(host.name), host]));
  // Virtual hosts are counted for what is theirs besides routes (domains, policies).
  const withoutRoutes = (host: EnvoyJson): EnvoyJson => ({ ...host, routes: [] });
  tallyKeyed([...oldHosts.values()].map(withoutRoutes), [...newHosts.values()].map(withoutRoutes), (host) => String(host.name), tallies["virtual host"]);
  for (const name of new Set([...oldHosts.keys(), ...newHosts.keys()])) {
    tallyRoutes(asObjects(oldHosts.get(name)?.routes), asObjects(newHosts.get(name)?.routes), tallies.route);
  }
}

function endpointsOf(assignment: EnvoyJson | undefined): EnvoyJson[] {
  const out: EnvoyJson[] = [];
  for (const locality of asObjects(assignment?.endpoints)) for (const endpoint of asObjects(locality.lb_endpoints)) out.push(endpoint);
  return out;
}

function endpointKey(endpoint: EnvoyJson): string {
  const address = ((endpoint.endpoint as EnvoyJson | undefined)?.address as EnvoyJson | undefined)?.socket_address as EnvoyJson | undefined;
  return address ? `${String(address.address)}:${String(address.port_value)}` : JSON.stringify(endpoint);
}

function plural(count: number, unit: Unit): string {
  if (count === 1) return unit;
  return unit === "route config" ? "route configs" : `${unit}s`;
}

export function summarize(tallies: Record<Unit, Tally>): string {
  const parts: string[] = [];
  for (const unit of units) {
    const tally = tallies[unit];
    if (tally.added) parts.push(`+${tally.added} ${plural(tally.added, unit)}`);
    if (tally.changed) parts.push(`~${tally.changed} ${plural(tally.changed, unit)}`);
    if (tally.removed) parts.push(`-${tally.removed} ${plural(tally.removed, unit)}`);
  }
  return parts.length === 0 ? "no change" : parts.join(", ");
}

/**
 * The changes from `before` to `after` (either may be undefined: no config published / none).
 * `text: false` skips rendering the unified diffs (`diff` is "") when only the summary is wanted:
 * live reloads of large configs would otherwise spend their time writing YAML nobody reads.
 */
export function diffConfigs(before: EnvoyResources | undefined, after: EnvoyResources | undefined, options: { text?: boolean } = {}): ConfigDiff {
  const withText = options.text !== false;
  const changes: ResourceChange[] = [];
  const tallies = emptyTallies();
  for (const kind of resourceKinds) {
    const old = new Map((before?.[kind] ?? []).map((resource) => [resource.name, resource]));
    const next = new Map((after?.[kind] ?? []).map((resource) => [resource.name, resource]));
    const names = [...new Set([...old.keys(), ...next.keys()])].sort();
    const unit = unitOfKind[kind];
    for (const name of names) {
      const a = old.get(name);
      const b = next.get(name);
      if (a && b && JSON.stringify(a) === JSON.stringify(b)) continue;
      const change = a === undefined ? "added" : b === undefined ? "removed" : "changed";
      const label = `${kind}/${name}`;
      let diff = "";
      if (withText) {
        // Equal as Envoy reads them (key order and the endpoints' bookkeeping name aside): no change.
        diff = unifiedDiff(a ? resourceYaml(a) : "", b ? resourceYaml(b) : "", { from: a ? `a/${label}` : "/dev/null", to: b ? `b/${label}` : "/dev/null" });
        if (diff === "") continue;
      }
      changes.push({ kind, name, change, diff });
      if (unit) tallies[unit][change]++;
      if (kind === "routes") tallyRouteConfig(a, b, tallies);
      if (kind === "endpoints") tallyKeyed(endpointsOf(a), endpointsOf(b), endpointKey, tallies.endpoint);
    }
  }
  return { changes, tallies, summary: summarize(tallies) };
}
