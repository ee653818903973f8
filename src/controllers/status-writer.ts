/**
 * The one status writer: for each desired status, get → compare ignoring lastTransitionTime →
 * patch the status subresource only if it changed (merge patch with the read resourceVersion as a
 * precondition; a 409 conflict re-reads and retries). Condition types other than pilotfish's are
 * kept. What it last wrote (or found equal) is remembered, so an unchanged desired status costs no
 * request at all. A status write does not move `generation`, and the source drops updates that do
 * not move it: no status → reconcile loop.
 */
import { KubeApiError } from "../sources/kube/rest.js";
import type { KubeObject } from "../sources/kube/rest.js";
import type { Condition, DesiredStatus, StatusKind } from "./status.js";

export interface StatusApi {
  get<T extends KubeObject>(path: string): Promise<T | undefined>;
  patchMerge<T extends KubeObject>(path: string, body: unknown, fieldManager?: string): Promise<T>;
}

const plural: Record<StatusKind, string> = { Gateway: "gateways", VirtualService: "virtualservices", DestinationRule: "destinationrules" };
const ours = new Set(["Accepted", "ResolvedRefs", "Programmed"]);

export function statusPath(kind: StatusKind, namespace: string, name: string): string {
  return `/apis/networking.istio.io/v1/namespaces/${encodeURIComponent(namespace)}/${plural[kind]}/${encodeURIComponent(name)}/status`;
}

interface StoredCondition extends Partial<Omit<Condition, "type">> {
  type: string;
  lastTransitionTime?: string;
}

const comparable = (conditions: readonly StoredCondition[]): string =>
  JSON.stringify(
    [...conditions]
      .map(({ type, status, reason, message, observedGeneration }) => ({ type, status, reason, message, observedGeneration }))
      .sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0)),
  );

export interface StatusWriteResult {
  written: DesiredStatus[];
  failed: { status: DesiredStatus; error: unknown }[];
}

export class StatusWriter {
  readonly #api: StatusApi;
  readonly #now: () => Date;
  /** key → comparable form of what the object's status holds (as written or as found). */
  readonly #known = new Map<string, string>();

  constructor(api: StatusApi, now: () => Date = () => new Date()) {
    this.#api = api;
    this.#now = now;
  }

  /** Writes what differs. Resources no longer desired are forgotten (not cleared). */
  async sync(desired: readonly DesiredStatus[]): Promise<StatusWriteResult> {
    const result: StatusWriteResult = { written: [], failed: [] };
    const keys = new Set<string>();
    for (const status of desired) {
      const key = `${status.kind}/${status.namespace}/${status.name}`;
      keys.add(key);
      const wanted = comparable(status.conditions);
      if (this.#known.get(key) === wanted) continue;
      try {
        if (await this.#write(status, wanted)) result.written.push(status);
        this.#known.set(key, wanted);
      } catch (error) {
        result.failed.push({ status, error });
      }
    }
    for (const key of this.#known.keys()) if (!keys.has(key)) this.#known.delete(key);
    return result;
  }

  /** get → compare → patch; true when a patch was sent. Retries conflicts. */
  async #write(status: DesiredStatus, wanted: string): Promise<boolean> {
    const path = statusPath(status.kind, status.namespace, status.name);
    for (let attempt = 1; ; attempt++) {
      const current = await this.#api.get<KubeObject>(path);
      if (!current) return false; // deleted meanwhile: the next sync forgets it
      const generation = (current.metadata as { generation?: number } | undefined)?.generation ?? 0;
      // Computed from an older spec than the one stored: a newer reconcile will come.
      if (generation !== status.generation) return false;
      const existing = ((current.status as { conditions?: StoredCondition[] } | undefined)?.conditions ?? []).filter((c) => typeof c?.type === "string");
      const existingOurs = existing.filter((c) => ours.has(c.type));
      if (comparable(existingOurs) === wanted) return false;
      const now = this.#now().toISOString().replace(/\.\d+Z$/, "Z");
      const conditions: StoredCondition[] = [
        ...existing.filter((c) => !ours.has(c.type)),
        ...status.conditions.map((c) => {
          const previous = existingOurs.find((e) => e.type === c.type);
          const lastTransitionTime = previous?.status === c.status && previous.lastTransitionTime ? previous.lastTransitionTime : now;
          return { ...c, lastTransitionTime };
        }),
      ];
      try {
        await this.#api.patchMerge(path, { metadata: { resourceVersion: (current.metadata as { resourceVersion?: string }).resourceVersion }, status: { conditions } }, "pilotfish");
        return true;
      } catch (error) {
        if (error instanceof KubeApiError && error.statusCode === 409 && attempt < 5) continue;
        if (error instanceof KubeApiError && error.statusCode === 404) return false;
        throw error;
      }
    }
  }
}
