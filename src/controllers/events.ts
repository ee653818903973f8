/**
 * Warning Events (events.k8s.io/v1; `kubectl get events` and `kubectl describe` show them through
 * the core/v1 view) on gateway Deployments (publish refusals) and Gateways (credential problems).
 *
 * De-duplicated, as an Event series rather than a flood: a problem is reported once while it
 * lasts (a config that stays too large — whose byte count changes with every edit — reports its
 * reason once; the log has every message). When it clears and comes back with the same message,
 * the existing Event's `series` is patched (count + 1, lastObservedTime) instead of creating
 * another Event; a new message creates a new Event.
 */
import { hostname } from "node:os";

export interface EventApi {
  create(path: string, body: Record<string, unknown>): Promise<unknown>;
  patchMerge(path: string, body: unknown): Promise<unknown>;
}

export interface EventSubject {
  namespace: string;
  name: string;
  uid: string;
}

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

export const REPORTING_CONTROLLER = "pilotfish.io/operator";

/** MicroTime: RFC 3339 with exactly six fractional digits. */
const microTime = (date: Date): string => date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");

interface Series {
  namespace: string;
  name: string;
  fingerprint: string;
  count: number;
}

export class EventRecorder {
  readonly #api: EventApi;
  readonly #now: () => Date;
  /** Dedupe key → what is being reported now (skipped while unchanged). */
  readonly #last = new Map<string, string>();
  /** Dedupe key → the last Event written for it (patched when the same problem recurs). */
  readonly #series = new Map<string, Series>();
  readonly #instance = hostname().slice(0, 128);
  #sequence = 0;

  constructor(api: EventApi, now: () => Date = () => new Date()) {
    this.#api = api;
    this.#now = now;
  }

  /** Reports a warning on a gateway Deployment unless this reason is already reported for it. */
  async warn(subject: EventSubject, reason: string, message: string): Promise<boolean> {
    return this.#emit(
      { apiVersion: "apps/v1", kind: "Deployment", namespace: subject.namespace, name: subject.name, uid: subject.uid },
      reason,
      message,
      `${subject.namespace}/${subject.name}`,
      reason,
      "Publish",
    );
  }

  /**
   * A warning on any object (a Gateway naming a bad credential), reported once per `dedupeKey`
   * until its message changes or `clearExcept` drops the key.
   */
  async warnOn(involved: InvolvedObject, reason: string, message: string, dedupeKey: string): Promise<boolean> {
    return this.#emit(involved, reason, message, `object:${dedupeKey}`, `${reason}: ${message}`, "Validate");
  }

  /** Forgets `warnOn` keys no longer current, so a problem that comes back is reported again. */
  clearExcept(current: ReadonlySet<string>): void {
    for (const key of [...this.#last.keys()]) if (key.startsWith("object:") && !current.has(key.slice("object:".length))) this.#last.delete(key);
  }

  /** The condition cleared: the next warning is reported again. */
  clear(subject: { namespace: string; name: string }): void {
    this.#last.delete(`${subject.namespace}/${subject.name}`);
  }

  async #emit(involved: InvolvedObject, reason: string, message: string, key: string, fingerprint: string, action: string): Promise<boolean> {
    if (this.#last.get(key) === fingerprint) return false;
    const now = this.#now();
    const note = message.slice(0, 1024);
    const series = this.#series.get(key);
    const collection = `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(involved.namespace)}/events`;
    if (series && series.fingerprint === `${reason}\u0000${note}`) {
      try {
        await this.#api.patchMerge(`${collection}/${encodeURIComponent(series.name)}`, { series: { count: series.count + 1, lastObservedTime: microTime(now) } });
        series.count++;
        this.#last.set(key, fingerprint);
        return true;
      } catch {
        // gone (Events expire after an hour by default): a new one below
      }
    }
    const created = (await this.#api.create(collection, {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      // client-go's naming (<object>.<hex nanoseconds>): events.k8s.io rejects a generateName ending in ".".
      metadata: { name: `${involved.name}.${(BigInt(now.getTime()) * 1_000_000n + BigInt(++this.#sequence)).toString(16)}`, namespace: involved.namespace },
      eventTime: microTime(now),
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.#instance,
      action,
      reason,
      note,
      type: "Warning",
      regarding: involved,
    })) as { metadata?: { name?: string } } | undefined;
    const name = created?.metadata?.name;
    if (name) this.#series.set(key, { namespace: involved.namespace, name, fingerprint: `${reason}\u0000${note}`, count: 1 });
    this.#last.set(key, fingerprint);
    return true;
  }
}
