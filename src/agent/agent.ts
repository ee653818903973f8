/**
 * `pilotfish agent`: the gateway pod's local xDS server. The pod's Envoy talks ADS to it over a
 * Unix socket; it serves from one local SnapshotStore (the same xDS server library the operator
 * runs), fed by one of two sources:
 *
 * - upstream, the operator's ADS (the fast path): once the first response of every type has
 *   arrived on a stream, the upstream config replaces the local one, and every later response
 *   updates it. Each upstream response is ACKed only when the pod's Envoy has ACKed what it
 *   changed (or nothing changed for it), and NACKed with Envoy's own message when Envoy NACKs:
 *   the operator's /debug/syncz shows what Envoy really runs.
 * - the mounted published ConfigMaps/Secret (the durable record): served at start, and whenever
 *   upstream is not streaming, re-read when kubelet swaps the folder.
 *
 * Both sources are normalised the same way (decoded from protobuf), so the same config from
 * either has the same content-hash versions: switching source pushes nothing to Envoy.
 */
import { existsSync, unlinkSync, watch } from "node:fs";
import type { FSWatcher } from "node:fs";
import type { EnvoyResource, EnvoyResources } from "../envoy/resources.js";
import { byName, emptyResources } from "../envoy/resources.js";
import { envoyJson } from "../envoy/cluster.js";
import { ProtoCodec } from "../xds/codec.js";
import { pushOrder, resourceGroup } from "../xds/resources.js";
import type { XdsType } from "../xds/resources.js";
import { XdsServer } from "../xds/server.js";
import { SnapshotStore } from "../xds/store.js";
import { readConfigDir, resourcesFromFiles } from "./files.js";
import { Upstream, withName } from "./upstream.js";
import type { UpstreamNode, UpstreamResponse, UpstreamSecurity } from "./upstream.js";

export interface AgentLogger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

export interface AgentOptions {
  /** Where Envoy connects: a Unix socket path (or `unix:` address). */
  listen: string;
  /** The mounted published config (the operator's --proxy-config-dir in the pod). */
  configDir: string;
  /** The operator's ADS, host:port; undefined = files only. */
  upstream?: string;
  security: UpstreamSecurity;
  /** The gateway proxy: its Deployment's namespace and name (the operator's proxy key). */
  namespace: string;
  workloadName: string;
  podName: string;
  podIp: string;
  logger: AgentLogger;
  /** Quiet time after a folder change before it is read (default 100 ms). */
  filesDebounceMs?: number;
}

export type AgentSource = "none" | "files" | "upstream";

interface UpstreamStream {
  id: number;
  types: Record<XdsType, Map<string, EnvoyResource>>;
  received: Set<XdsType>;
  /** The latest upstream nonce per type that is not yet ACKed or NACKed. */
  pending: Map<XdsType, string>;
}

export class Agent {
  readonly codec = new ProtoCodec();
  readonly store = new SnapshotStore(this.codec);
  readonly server: XdsServer;
  readonly key: string;
  readonly #options: AgentOptions;
  readonly #log: AgentLogger;
  #upstream: Upstream | undefined;
  #stream: UpstreamStream | undefined;
  /** True once the current stream has delivered every type: upstream is the source. */
  #live = false;
  #source: AgentSource = "none";
  #watcher: FSWatcher | undefined;
  #filesTimer: NodeJS.Timeout | undefined;
  #address = "";

  constructor(options: AgentOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.key = `${options.namespace}/${options.workloadName}`;
    // The pod's own Envoy on a Unix socket in the pod: no token to check (the operator checks the agent's).
    this.server = new XdsServer({ store: this.store, logger: options.logger, authentication: "none", pushLogSize: 1_000 });
    this.server.events.on("ack", () => this.#settle());
    this.server.events.on("nack", () => this.#settle());
  }

  /** Which source the served config came from last. */
  get source(): AgentSource {
    return this.#source;
  }

  /** True while upstream is streaming and its config is what is served. */
  get upstreamLive(): boolean {
    return this.#live;
  }

  get address(): string {
    return this.#address;
  }

  async start(): Promise<void> {
    this.#loadFiles("start");
    const path = this.#options.listen.replace(/^unix:/, "");
    // A socket left by a previous run of the container (the emptyDir outlives it) blocks bind.
    if (existsSync(path)) unlinkSync(path);
    this.#address = await this.server.listen(`unix:${path}`);
    this.#watchFiles();
    if (this.#options.upstream) {
      const node: UpstreamNode = {
        id: `router~${this.#options.podIp}~${this.#options.podName}.${this.#options.namespace}~${this.#options.namespace}.svc.cluster.local`,
        cluster: this.#options.workloadName,
        metadata: { NAMESPACE: this.#options.namespace, WORKLOAD_NAME: this.#options.workloadName, POD_NAME: this.#options.podName, PILOTFISH_AGENT: "true" },
      };
      this.#upstream = new Upstream({
        address: this.#options.upstream,
        security: this.#options.security,
        node,
        codec: this.codec,
        logger: this.#log,
        onStreamStart: (stream) => this.#onStreamStart(stream),
        onStreamEnd: (stream, why) => this.#onStreamEnd(stream, why),
        onResponse: (response) => this.#onResponse(response),
      });
      this.#upstream.start();
    }
  }

  async close(): Promise<void> {
    this.#watcher?.close();
    if (this.#filesTimer) clearTimeout(this.#filesTimer);
    this.#upstream?.close();
    await this.server.close();
  }

  // ---- files

  #watchFiles(): void {
    try {
      // kubelet swaps `..data` with a rename in this folder: one event per new version.
      this.#watcher = watch(this.#options.configDir, () => {
        if (this.#filesTimer) clearTimeout(this.#filesTimer);
        this.#filesTimer = setTimeout(() => {
          this.#filesTimer = undefined;
          if (!this.#live) this.#loadFiles("folder changed");
        }, this.#options.filesDebounceMs ?? 100);
      });
    } catch (error) {
      this.#log.warn(`cannot watch ${this.#options.configDir}: ${error instanceof Error ? error.message : String(error)}; the files are read at start only`);
    }
  }

  #loadFiles(why: string): void {
    let resources: EnvoyResources;
    try {
      resources = this.#normalise(resourcesFromFiles(readConfigDir(this.#options.configDir)));
    } catch (error) {
      this.#log.warn(`not serving ${this.#options.configDir} (${why}): ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    try {
      const changed = this.store.setSnapshot(this.key, resources);
      this.#source = "files";
      this.#log.info(`serving ${this.#options.configDir} (${why}): ${count(resources)}${changed.size ? `; changed ${[...changed].join(", ")}` : "; nothing changed"}`);
    } catch (error) {
      this.#log.warn(`not serving ${this.#options.configDir} (${why}): ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** protobuf round trip: files then hash exactly as the same config received from upstream. */
  #normalise(resources: EnvoyResources): EnvoyResources {
    const out = emptyResources();
    for (const type of pushOrder) {
      const group = resourceGroup[type];
      out[group] = resources[group].map((resource) => {
        const any = this.codec.encodeAny(envoyJson(resource), `${type} ${resource.name}`);
        return withName(this.codec.decodeAny(any.type_url, any.value), resource.name);
      });
    }
    return out;
  }

  // ---- upstream

  #onStreamStart(stream: number): void {
    const types = {} as UpstreamStream["types"];
    for (const type of pushOrder) types[type] = new Map();
    this.#stream = { id: stream, types, received: new Set(), pending: new Map() };
    this.#log.info(`upstream ${this.#options.upstream ?? ""} streaming (stream ${stream})`);
  }

  #onStreamEnd(stream: number, why: string): void {
    if (this.#stream?.id !== stream) return;
    const wasLive = this.#live;
    this.#stream = undefined;
    this.#live = false;
    this.#log.warn(`upstream ${this.#options.upstream ?? ""} lost (${why}): ${wasLive ? "keeping the last config; following" : "serving"} ${this.#options.configDir} until it is back`);
  }

  #onResponse(response: UpstreamResponse): void {
    const stream = this.#stream;
    if (!stream || stream.id !== response.stream) return;
    const held = stream.types[response.type];
    for (const name of response.removed) held.delete(name);
    for (const resource of response.resources) held.set(resource.name, resource);
    stream.received.add(response.type);
    stream.pending.set(response.type, response.nonce);
    // Until every type has arrived, the upstream config is partial: serving it would remove the rest.
    if (!this.#live && stream.received.size < pushOrder.length) return;
    const resources = emptyResources();
    for (const type of pushOrder) resources[resourceGroup[type]] = [...stream.types[type].values()].sort(byName);
    try {
      const changed = this.store.setSnapshot(this.key, resources);
      if (!this.#live) this.#log.info(`serving upstream ${this.#options.upstream ?? ""}: ${count(resources)}${changed.size ? `; changed ${[...changed].join(", ")}` : "; nothing changed"}`);
      this.#live = true;
      this.#source = "upstream";
    } catch (error) {
      // The agent cannot encode it: Envoy never sees it, the operator hears why, the last config stays.
      const message = `pilotfish agent: ${error instanceof Error ? error.message : String(error)}`;
      this.#log.warn(`NACK upstream ${response.type}: ${message}`);
      for (const [type, nonce] of stream.pending) this.#upstream?.nack(stream.id, type, nonce, message);
      stream.pending.clear();
      return;
    }
    this.#settle();
  }

  /** ACKs (or NACKs) each pending upstream response whose outcome at Envoy is known. */
  #settle(): void {
    const stream = this.#stream;
    if (!stream || !this.#live || stream.pending.size === 0) return;
    const envoys = this.server.syncStatus().proxies.filter((proxy) => proxy.proxy === this.key);
    if (envoys.length === 0) return; // nothing has it yet: stays STALE upstream until an Envoy ACKs
    for (const [type, nonce] of [...stream.pending]) {
      const states = envoys.map((envoy) => envoy.types[type]);
      const nacked = states.find((state) => state?.status === "NACKED");
      if (nacked) {
        this.#upstream?.nack(stream.id, type, nonce, nacked.error?.message ?? "rejected by Envoy");
        stream.pending.delete(type);
      } else if (states.every((state) => !state?.subscribed || state.status === "SYNCED")) {
        this.#upstream?.ack(stream.id, type, nonce);
        stream.pending.delete(type);
      }
    }
  }
}

function count(resources: EnvoyResources): string {
  return pushOrder.map((type) => `${resources[resourceGroup[type]].length} ${type}`).join(", ");
}
