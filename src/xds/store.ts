/**
 * The snapshot store: per proxy key (`<namespace>/<gateway Deployment>`, the operator's key),
 * the compiled resources by type and name, each with a content-hash version and its protobuf
 * bytes. Resources are encoded once per content version: an unchanged resource keeps its bytes
 * across snapshots, and proxies that share a resource version share the bytes.
 */
import { createHash } from "node:crypto";
import { envoyJson } from "../envoy/cluster.js";
import type { EnvoyResources } from "../envoy/resources.js";
import { ProtoCodec } from "./codec.js";
import { pushOrder, resourceGroup } from "./resources.js";
import type { XdsType } from "./resources.js";

export interface StoredResource {
  name: string;
  /** sha256 of the resource's JSON, 16 hex digits. */
  version: string;
  typeUrl: string;
  /** The resource's protobuf (the Any's value). */
  bytes: Uint8Array;
}

export interface ProxySnapshot {
  key: string;
  types: Record<XdsType, Map<string, StoredResource>>;
  /** Per type: hash over every resource's name and version. */
  versions: Record<XdsType, string>;
}

export type SnapshotListener = (key: string, snapshot: ProxySnapshot | undefined, changed: ReadonlySet<XdsType>) => void;

export function hashOf(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** The version of a set of resources: a hash of their sorted names and versions ("" for none). */
export function setVersion(resources: Iterable<StoredResource>): string {
  const parts = [...resources].map((resource) => `${resource.name}\u0000${resource.version}`).sort();
  return parts.length === 0 ? "empty" : hashOf(parts.join("\u0001"));
}

export class SnapshotStore {
  readonly #codec: ProtoCodec;
  readonly #snapshots = new Map<string, ProxySnapshot>();
  /** Encoded bytes by version (content hash), with the number of snapshot entries using them. */
  readonly #encoded = new Map<string, { bytes: Uint8Array; refs: number }>();
  readonly #listeners = new Set<SnapshotListener>();

  constructor(codec: ProtoCodec = new ProtoCodec()) {
    this.#codec = codec;
  }

  get codec(): ProtoCodec {
    return this.#codec;
  }

  /**
   * Replaces the proxy's snapshot; listeners hear which types changed (none: nothing happens).
   * Throws, leaving the previous snapshot, if a resource cannot be encoded.
   */
  setSnapshot(key: string, resources: EnvoyResources): ReadonlySet<XdsType> {
    const previous = this.#snapshots.get(key);
    const added: string[] = [];
    const types = {} as ProxySnapshot["types"];
    const versions = {} as ProxySnapshot["versions"];
    try {
      for (const type of pushOrder) {
        const map = new Map<string, StoredResource>();
        for (const resource of resources[resourceGroup[type]]) {
          const json = envoyJson(resource);
          const version = hashOf(JSON.stringify(json));
          const old = previous?.types[type].get(resource.name);
          let bytes: Uint8Array;
          const cached = this.#encoded.get(version);
          if (old?.version === version) bytes = old.bytes;
          else if (cached) bytes = cached.bytes;
          else bytes = this.#codec.encodeAny(json, `${type} ${resource.name}`).value;
          this.#ref(version, bytes);
          added.push(version);
          map.set(resource.name, { name: resource.name, version, typeUrl: resource["@type"], bytes });
        }
        types[type] = map;
        versions[type] = setVersion(map.values());
      }
    } catch (error) {
      for (const version of added) this.#unref(version);
      throw error;
    }
    const snapshot: ProxySnapshot = { key, types, versions };
    this.#snapshots.set(key, snapshot);
    if (previous) this.#release(previous);
    const changed = new Set(pushOrder.filter((type) => previous?.versions[type] !== versions[type]));
    if (changed.size > 0) for (const listener of this.#listeners) listener(key, snapshot, changed);
    return changed;
  }

  /** Forgets the proxy (its Deployment is gone); connected proxies keep their last config. */
  deleteSnapshot(key: string): void {
    const previous = this.#snapshots.get(key);
    if (!previous) return;
    this.#snapshots.delete(key);
    this.#release(previous);
    for (const listener of this.#listeners) listener(key, undefined, new Set());
  }

  getSnapshot(key: string): ProxySnapshot | undefined {
    return this.#snapshots.get(key);
  }

  keys(): string[] {
    return [...this.#snapshots.keys()].sort();
  }

  subscribe(listener: SnapshotListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #ref(version: string, bytes: Uint8Array): void {
    const entry = this.#encoded.get(version);
    if (entry) entry.refs++;
    else this.#encoded.set(version, { bytes, refs: 1 });
  }

  #unref(version: string): void {
    const entry = this.#encoded.get(version);
    if (!entry) return;
    if (--entry.refs <= 0) this.#encoded.delete(version);
  }

  #release(snapshot: ProxySnapshot): void {
    for (const type of pushOrder) for (const resource of snapshot.types[type].values()) this.#unref(resource.version);
  }
}
