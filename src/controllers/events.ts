/**
 * Warning Events on a gateway Deployment (core/v1 Events: what `kubectl describe deployment`
 * shows). De-duplicated per proxy and reason: a reason is reported once until the condition
 * clears (a publish succeeds), so a config that stays too large — whose byte count changes with
 * every edit — does not flood the namespace; the log has every message.
 */
import { hostname } from "node:os";

export interface EventApi {
  create(path: string, body: Record<string, unknown>): Promise<unknown>;
}

export interface EventSubject {
  namespace: string;
  name: string;
  uid: string;
}

export class EventRecorder {
  readonly #api: EventApi;
  readonly #last = new Map<string, string>();
  readonly #instance = hostname();

  constructor(api: EventApi) {
    this.#api = api;
  }

  /** Reports a warning unless this reason is already reported for this Deployment. */
  async warn(subject: EventSubject, reason: string, message: string): Promise<boolean> {
    const key = `${subject.namespace}/${subject.name}`;
    const fingerprint = reason;
    if (this.#last.get(key) === fingerprint) return false;
    const now = new Date().toISOString();
    await this.#api.create(`/api/v1/namespaces/${encodeURIComponent(subject.namespace)}/events`, {
      apiVersion: "v1",
      kind: "Event",
      metadata: { generateName: `${subject.name}.`, namespace: subject.namespace },
      involvedObject: { apiVersion: "apps/v1", kind: "Deployment", name: subject.name, namespace: subject.namespace, uid: subject.uid },
      reason,
      message: message.slice(0, 1024),
      type: "Warning",
      source: { component: "pilotfish" },
      reportingComponent: "pilotfish",
      reportingInstance: this.#instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
    this.#last.set(key, fingerprint);
    return true;
  }

  /**
   * A warning on any object (a Gateway naming a bad credential), reported once per `dedupeKey`
   * until its message changes or `clearExcept` drops the key.
   */
  async warnOn(involved: { apiVersion: string; kind: string; namespace: string; name: string; uid?: string }, reason: string, message: string, dedupeKey: string): Promise<boolean> {
    const key = `object:${dedupeKey}`;
    const fingerprint = `${reason}: ${message}`;
    if (this.#last.get(key) === fingerprint) return false;
    const now = new Date().toISOString();
    await this.#api.create(`/api/v1/namespaces/${encodeURIComponent(involved.namespace)}/events`, {
      apiVersion: "v1",
      kind: "Event",
      metadata: { generateName: `${involved.name}.`, namespace: involved.namespace },
      involvedObject: involved,
      reason,
      message: message.slice(0, 1024),
      type: "Warning",
      source: { component: "pilotfish" },
      reportingComponent: "pilotfish",
      reportingInstance: this.#instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
    this.#last.set(key, fingerprint);
    return true;
  }

  /** Forgets `warnOn` keys no longer current, so a problem that comes back is reported again. */
  clearExcept(current: ReadonlySet<string>): void {
    for (const key of [...this.#last.keys()]) if (key.startsWith("object:") && !current.has(key.slice("object:".length))) this.#last.delete(key);
  }

  /** The condition cleared: the next warning is reported again. */
  clear(subject: { namespace: string; name: string }): void {
    this.#last.delete(`${subject.namespace}/${subject.name}`);
  }
}
