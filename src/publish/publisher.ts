/**
 * Writes a proxy's publish plan to the apiserver: server-side apply (field manager `pilotfish`,
 * forced: these objects are pilotfish's alone), only for objects whose content hash or
 * subscription count differs from what is published, in `writeOrder`.
 *
 * Removing a file is done in two steps so that no published listener or cluster ever points at a
 * file that is gone: the EDS/RDS/SDS objects are first written with the new files plus the ones
 * the currently published CDS/LDS may still reference, then CDS and LDS, then the leftovers are
 * pruned. (A kubelet sync can land between any two writes.) In compact form (ADR 0018) a group
 * spans several objects: a file still published in any of them is not a leftover (it moved), and
 * shards the plan no longer uses are emptied (never deleted: the pod's volume lists them as
 * optional, and the Deployment's garbage collection removes them).
 */
import type { DesiredObject, ObjectGroup, ProxyWorkload, PublishPlan } from "./plan.js";
import { annotations, dataBytes, desiredObject, fileOfKey, isCompressedKey, maxObjectDataBytes, maxShardsPerGroup, objectManifest, writeOrder } from "./plan.js";

/** The part of a Kubernetes client the publisher needs (src/sources/kube/rest.ts has it). */
export interface PublishApi {
  get(path: string): Promise<Record<string, unknown> | undefined>;
  apply(path: string, body: Record<string, unknown>, fieldManager: string, force?: boolean): Promise<Record<string, unknown>>;
}

export const fieldManager = "pilotfish";

export interface PublishedState {
  hash: string;
  fileSubscriptions: string;
  /** The Deployment uid in the object's ownerReference. */
  ownerUid: string;
  data: Record<string, string>;
}

export interface ObjectWrite {
  group: ObjectGroup;
  name: string;
  /** "written": the final content; "staged": new plus still-referenced files; "pruned": leftovers removed. */
  step: "written" | "staged" | "pruned";
  bytes: number;
}

export interface PublishOutcome {
  writes: ObjectWrite[];
  unchanged: ObjectGroup[];
}

function objectPath(object: { kind: "ConfigMap" | "Secret"; namespace: string; name: string }): string {
  const collection = object.kind === "Secret" ? "secrets" : "configmaps";
  return `/api/v1/namespaces/${encodeURIComponent(object.namespace)}/${collection}/${encodeURIComponent(object.name)}`;
}

function stateOf(object: Record<string, unknown>, kind: "ConfigMap" | "Secret"): PublishedState {
  const metadata = (object.metadata ?? {}) as { annotations?: Record<string, string>; ownerReferences?: { uid?: string; controller?: boolean }[] };
  const raw = { ...((object.data ?? {}) as Record<string, string>), ...((object.binaryData ?? {}) as Record<string, string>) };
  const data: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) data[key] = kind === "Secret" && !isCompressedKey(key) ? Buffer.from(value, "base64").toString("utf8") : value;
  return {
    hash: metadata.annotations?.[annotations.configHash] ?? "",
    fileSubscriptions: metadata.annotations?.[annotations.fileSubscriptions] ?? "",
    ownerUid: metadata.ownerReferences?.find((owner) => owner.controller)?.uid ?? "",
    data,
  };
}

export class Publisher {
  readonly #api: PublishApi;
  /** What this process last saw published, by object path: saves a GET per object per publish. */
  readonly #published = new Map<string, PublishedState>();
  /** Object paths this process saw absent (unused shards): saves their GETs too. */
  readonly #absent = new Set<string>();

  constructor(api: PublishApi) {
    this.#api = api;
  }

  /** Forget cached state (e.g. the proxy's Deployment was deleted, or a write failed). */
  forget(proxy: { namespace: string; name: string }): void {
    const ofProxy = (key: string): boolean => key.startsWith(`/api/v1/namespaces/${encodeURIComponent(proxy.namespace)}/`) && key.includes(`/pilotfish-${proxy.name}-`);
    for (const key of [...this.#published.keys()]) if (ofProxy(key)) this.#published.delete(key);
    for (const key of [...this.#absent]) if (ofProxy(key)) this.#absent.delete(key);
  }

  async #current(object: DesiredObject): Promise<PublishedState | undefined> {
    const path = objectPath(object);
    const cached = this.#published.get(path);
    if (cached) return cached;
    if (this.#absent.has(path)) return undefined;
    const existing = await this.#api.get(path);
    if (!existing) {
      this.#absent.add(path);
      return undefined;
    }
    const state = stateOf(existing, object.kind);
    this.#published.set(path, state);
    return state;
  }

  async #write(object: DesiredObject, proxy: ProxyWorkload, fileSubscriptions: number): Promise<void> {
    const path = objectPath(object);
    this.#published.delete(path);
    this.#absent.delete(path);
    await this.#api.apply(path, objectManifest(object, proxy, fileSubscriptions), fieldManager, true);
    this.#published.set(path, { hash: object.hash, fileSubscriptions: String(fileSubscriptions), ownerUid: proxy.uid, data: object.data });
  }

  async publish(plan: PublishPlan, proxy: ProxyWorkload): Promise<PublishOutcome> {
    const subscriptions = String(plan.fileSubscriptions);
    const outcome: PublishOutcome = { writes: [], unchanged: [] };
    const toPrune: DesiredObject[] = [];
    for (const group of writeOrder) {
      const planned = plan.objects.filter((object) => object.group === group);
      if (planned.length === 0) continue;
      // Every file the group publishes, whichever object holds it (and however it is encoded).
      const files = new Set(planned.flatMap((object) => Object.keys(object.data).map(fileOfKey)));
      const unused: DesiredObject[] = [];
      for (let shard = planned.length; shard < maxShardsPerGroup; shard++) unused.push(desiredObject(proxy, group, {}, shard));
      for (const object of [...planned, ...unused]) {
        const current = await this.#current(object);
        const isUnused = object.shard >= planned.length;
        if (isUnused && (!current || Object.keys(current.data).length === 0)) continue;
        const countMatches = object.group !== "lds" || object.shard > 0 || current?.fileSubscriptions === subscriptions;
        // A gateway Deployment deleted and re-created keeps its name but not its uid: objects still
        // owned by the old uid are about to be garbage-collected, so they are re-applied.
        if (current && current.hash === object.hash && countMatches && current.ownerUid === proxy.uid) {
          if (object.shard === 0) outcome.unchanged.push(object.group);
          continue;
        }
        const isReferenced = object.group === "eds" || object.group === "rds" || object.group === "sds";
        const leftovers = isReferenced && current ? Object.keys(current.data).filter((key) => !(key in object.data) && !files.has(fileOfKey(key))) : [];
        if (leftovers.length > 0) {
          const staged: Record<string, string> = { ...object.data };
          for (const key of leftovers) staged[key] = current?.data[key] ?? "";
          if (dataBytes(staged) <= maxObjectDataBytes) {
            const stagedObject = desiredObject(proxy, object.group, sortKeys(staged), object.shard);
            await this.#write(stagedObject, proxy, plan.fileSubscriptions);
            outcome.writes.push({ group: object.group, name: object.name, step: "staged", bytes: stagedObject.bytes });
            toPrune.push(object);
            continue;
          }
        }
        await this.#write(object, proxy, plan.fileSubscriptions);
        outcome.writes.push({ group: object.group, name: object.name, step: "written", bytes: object.bytes });
      }
    }
    for (const object of toPrune) {
      await this.#write(object, proxy, plan.fileSubscriptions);
      outcome.writes.push({ group: object.group, name: object.name, step: "pruned", bytes: object.bytes });
    }
    return outcome;
  }
}

function sortKeys(record: Record<string, string>): Record<string, string> {
  const sorted: Record<string, string> = {};
  for (const key of Object.keys(record).sort()) sorted[key] = record[key] ?? "";
  return sorted;
}
