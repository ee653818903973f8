/**
 * One list+watch of one resource, kept alive: client-node's ListWatch re-lists by itself on
 * 410 Gone and re-watches when a watch ends, but it stops for good on any other error (a failed
 * list, a refused watch, the apiserver gone). This wrapper restarts it with capped exponential
 * back-off and tells the owner, so every such event is logged and counted.
 */
import { ListWatch, Watch } from "@kubernetes/client-node";
import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import type { KubeObject, KubeRest } from "./rest.js";

export type ChangeType = "add" | "update" | "delete";

export interface InformerSpec {
  /** A name for logs and metrics, e.g. "gateways" or "secrets/istio-system". */
  name: string;
  /** Collection path, e.g. `/apis/networking.istio.io/v1/gateways`. */
  path: string;
  /** apiVersion and kind to stamp on listed items (list items of built-in kinds carry neither). */
  apiVersion: string;
  kind: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface InformerEvents {
  onChange(type: ChangeType, object: KubeObject): void;
  /** The first successful list of this informer. */
  onSynced(): void;
  onError(error: unknown, retryInMs: number): void;
  /** Every successful list: the first, and each re-list (410 Gone, a restart after an error). */
  onListed?(): void;
  /**
   * A list after the first: the watch could not resume from its resourceVersion (410 Gone after
   * etcd compacted that history or an apiserver restart emptied its watch cache) or was restarted
   * after an error. The cache is reconciled against the list: only real differences are changes.
   */
  onRelisted?(objects: number): void;
}

const minBackoffMs = 500;
// Capped at 5 s, not client-go's 30 s: after an apiserver outage the informers are back within 5 s of it
// (the fault test measured up to 36 s with 30 s), at the cost of one list per informer per 5 s while it is down.
const maxBackoffMs = 5_000;

export class ResilientInformer {
  readonly spec: InformerSpec;
  #listWatch: ListWatch<KubernetesObject> | undefined;
  #synced = false;
  #stopped = false;
  #failures = 0;
  #lists = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #rest: KubeRest;
  readonly #config: KubeConfig;
  readonly #events: InformerEvents;

  constructor(spec: InformerSpec, rest: KubeRest, config: KubeConfig, events: InformerEvents) {
    this.spec = spec;
    this.#rest = rest;
    this.#config = config;
    this.#events = events;
  }

  get synced(): boolean {
    return this.#synced;
  }

  list(): KubeObject[] {
    return (this.#listWatch?.list() ?? []) as KubeObject[];
  }

  get(name: string, namespace?: string): KubeObject | undefined {
    return this.#listWatch?.get(name, namespace) as KubeObject | undefined;
  }

  start(): void {
    this.#stopped = false;
    const spec = this.spec;
    // Runs on every object before or right after ListWatch caches it (the same reference), so
    // what it drops is dropped from the cache: managedFields are often half an object's size and
    // nothing downstream reads them.
    const stamp = (object: KubernetesObject): KubeObject => {
      const raw = object as KubeObject;
      if (raw.metadata && "managedFields" in raw.metadata) delete (raw.metadata as { managedFields?: unknown }).managedFields;
      raw.apiVersion ??= spec.apiVersion;
      raw.kind ??= spec.kind;
      return raw;
    };
    const listFn = async () => {
      const list = await this.#rest.list(spec.path, { labelSelector: spec.labelSelector, fieldSelector: spec.fieldSelector });
      for (const item of list.items) stamp(item as KubernetesObject);
      return list as unknown as { apiVersion: string; kind: string; metadata: { resourceVersion?: string }; items: KubernetesObject[] };
    };
    const listWatch = new ListWatch<KubernetesObject>(spec.path, new Watch(this.#config), async () => {
      const list = await listFn();
      // A successful list: the informer is (again) in step with the apiserver.
      this.#failures = 0;
      this.#events.onListed?.();
      this.#lists++;
      if (this.#lists > 1) this.#events.onRelisted?.(list.items.length);
      // ListWatch fills its cache from the list after this function returns (in microtasks that
      // follow); a macrotask later the cache holds every listed object.
      setImmediate(() => {
        if (!this.#synced && !this.#stopped) {
          this.#synced = true;
          this.#events.onSynced();
        }
      });
      return list;
    }, false, spec.labelSelector, spec.fieldSelector);
    listWatch.on("add", (object) => this.#events.onChange("add", stamp(object)));
    listWatch.on("update", (object) => this.#events.onChange("update", stamp(object)));
    listWatch.on("delete", (object) => this.#events.onChange("delete", stamp(object)));
    listWatch.on("error", (error) => this.#restartLater(error));
    this.#listWatch = listWatch;
    void listWatch.start().catch((error: unknown) => this.#restartLater(error));
  }

  #restartLater(error: unknown): void {
    if (this.#stopped) return;
    this.#failures++;
    const retryInMs = Math.min(minBackoffMs * 2 ** (this.#failures - 1), maxBackoffMs);
    this.#events.onError(error, retryInMs);
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      if (this.#stopped || !this.#listWatch) return;
      // start() lists again from scratch only when the resourceVersion was lost; a fresh
      // ListWatch would forget the cache and report every object as added, so reuse this one.
      void this.#listWatch.start().catch((restartError: unknown) => this.#restartLater(restartError));
    }, retryInMs);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    await this.#listWatch?.stop();
  }
}
