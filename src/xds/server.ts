/**
 * The ADS server: `envoy.service.discovery.v3.AggregatedDiscoveryService`, state of the world
 * (StreamAggregatedResources) and incremental (DeltaAggregatedResources), serving LDS, RDS, CDS,
 * EDS and SDS from a SnapshotStore. The protocol follows Envoy's xDS doc and Istio's state
 * machine (pkg/xds/server.go ShouldRespond), per connection and per type:
 *
 * - a request carrying error_detail whose nonce is the last one sent is a NACK: recorded with
 *   Envoy's message and the rejected version, never answered — the rejected version is not sent
 *   again (the next push is the next different version); Envoy keeps its last accepted config;
 * - a request whose nonce is not the last one sent is stale and ignored (SotW); in Delta its
 *   subscription changes still apply, its ACK/NACK does not;
 * - a request with no nonce (a new stream, a reconnect, a new type) is always answered;
 * - an ACK is answered only when the subscribed names changed;
 * - LDS and CDS are wildcard, RDS/EDS/SDS by name; a SotW response for a named type holds only the
 *   subscribed names that exist, so its version is a hash over exactly those;
 * - Delta: initial_resource_versions on a new stream say what Envoy already has, so nothing is
 *   re-sent that it holds; resources gone from the snapshot go out as removed_resources;
 * - a snapshot change pushes only the types whose version changed for that connection, in the
 *   order CDS, EDS, LDS, RDS, SDS (an endpoint change pushes EDS alone).
 *
 * Nonces are unique per response (server instance id + counter). Sync state for /debug/syncz:
 * syncStatus(). Security (docs/xds.md): listen() serves TLS when given a certificate and refuses
 * plaintext off loopback unless asked; with an authenticator, a stream's requests are held until
 * its bearer token is verified and its identity is entitled to the proxy key its node claims
 * (auth.ts), and a refused stream ends with UNAUTHENTICATED or PERMISSION_DENIED having been
 * sent nothing.
 */
import { EventEmitter } from "node:events";
import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { bearerToken, XdsAuthError } from "./auth.js";
import type { ProxyIdentity, XdsAuthentication } from "./auth.js";
import { structFromPb } from "./codec.js";
import { proxyKeyOf } from "./node.js";
import type { NodeInfo } from "./node.js";
import { isWildcardType, pushOrder, xdsTypeOf, xdsTypeUrl } from "./resources.js";
import type { XdsType } from "./resources.js";
import { setVersion } from "./store.js";
import type { SnapshotStore } from "./store.js";
import type { ProxySnapshot, StoredResource } from "./store.js";
import { RotatingServerCredentials } from "./tls.js";
import type { XdsCertificate } from "./tls.js";

type Obj = Record<string, unknown>;

export interface XdsLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
}

const silent: XdsLogger = { info: () => undefined, warn: () => undefined, debug: () => undefined };

export type SyncState = "SYNCED" | "NOT SENT" | "STALE" | "NACKED";

export interface PushRecord {
  at: number;
  connection: number;
  proxy: string | undefined;
  api: "sotw" | "delta";
  type: XdsType;
  version: string;
  nonce: string;
  resources: string[];
  removed: string[];
}

interface NackRecord {
  message: string;
  version: string | undefined;
  nonce: string;
  at: number;
}

interface TypeState {
  requested: boolean;
  wildcard: boolean;
  names: Set<string>;
  versionSent?: string;
  nonceSent?: string;
  sentAt?: number;
  versionAcked?: string;
  nonceAcked?: string;
  ackedAt?: number;
  lastError?: NackRecord;
  pushes: number;
  /** Delta: what Envoy holds (or was sent), name → version. */
  known: Map<string, string>;
}

interface Connection {
  id: number;
  api: "sotw" | "delta";
  peer: string;
  connectedAt: number;
  node?: NodeInfo;
  proxy?: string;
  /** Who the bearer token says this is (absent without authentication). */
  identity?: ProxyIdentity;
  /** Requests are handled once the stream is admitted (at once without authentication). */
  admitted: boolean;
  /** Admitted without a token (`anonymous: "serve-without-secrets"`): served no SDS resource. */
  anonymous: boolean;
  /** Requests received while the token and entitlement are being checked. */
  held: Buffer[];
  types: Map<XdsType, TypeState>;
  write(bytes: Uint8Array): void;
}

export interface XdsServerOptions {
  store: SnapshotStore;
  /**
   * How clients are authenticated and what they are entitled to (auth.ts). `"none"` trusts every
   * client (its node id decides its config, secrets included) and is refused off loopback.
   */
  authentication: XdsAuthentication;
  /**
   * With an authenticator, what a client without a token gets: `"refuse"` (default:
   * UNAUTHENTICATED) or `"serve-without-secrets"` — the config its node claims, never an SDS
   * resource (for proxies that cannot send a token yet, e.g. Envoy dialling the operator directly).
   * A token that is sent is always checked, and a bad or foreign one refused.
   */
  anonymous?: "refuse" | "serve-without-secrets";
  logger?: XdsLogger;
  /** How many push records to keep for tests and benchmarks (default 10,000). */
  pushLogSize?: number;
}

export interface ListenOptions {
  /** Serve TLS with this certificate (replaceable later with setCertificate). */
  tls?: XdsCertificate;
  /** Allow plaintext on an address other than loopback (`--xds-plaintext`). */
  plaintext?: boolean;
  /**
   * Allow authentication "none" on an address other than loopback, in plaintext only: a network
   * the operator trusts entirely (the bench's node; `--xds-plaintext --xds-auth none`).
   */
  unauthenticatedOffLoopback?: boolean;
}

export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** `:15010` → `0.0.0.0:15010`; `[::1]:0` kept; returns the host for the loopback check. */
export function grpcAddress(address: string): { target: string; host: string } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address);
  if (!match) throw new Error(`invalid xDS address "${address}": use [host]:port, e.g. 127.0.0.1:15010`);
  const host = match[1] ?? (match[2] || "0.0.0.0");
  return { target: host.includes(":") ? `[${host}]:${match[3]}` : `${host}:${match[3]}`, host };
}

export class XdsServer {
  readonly store: SnapshotStore;
  /** "push", "ack", "nack" (with the PushRecord or { connection, proxy, type, version, message }). */
  readonly events = new EventEmitter();
  readonly pushLog: PushRecord[] = [];
  readonly #log: XdsLogger;
  readonly #pushLogSize: number;
  readonly #connections = new Map<number, Connection>();
  readonly #instance = randomBytes(4).toString("hex");
  readonly #started = Date.now();
  #nonce = 0;
  /** Encoded SotW response bodies by `<type>:<version>` (content versions: never stale). */
  readonly #bodies = new Map<string, Uint8Array>();
  #connectionIds = 0;
  #server: grpc.Server | undefined;
  #credentials: RotatingServerCredentials | undefined;
  readonly #authentication: XdsAuthentication;
  readonly #anonymous: "refuse" | "serve-without-secrets";
  readonly #unsubscribe: () => void;
  readonly #requestType;
  readonly #responseType;
  readonly #deltaRequestType;
  readonly #deltaResponseType;

  constructor(options: XdsServerOptions) {
    this.store = options.store;
    this.#log = options.logger ?? silent;
    this.#authentication = options.authentication;
    this.#anonymous = options.anonymous ?? "refuse";
    this.#pushLogSize = options.pushLogSize ?? 10_000;
    const codec = options.store.codec;
    this.#requestType = codec.type("envoy.service.discovery.v3.DiscoveryRequest");
    this.#responseType = codec.type("envoy.service.discovery.v3.DiscoveryResponse");
    this.#deltaRequestType = codec.type("envoy.service.discovery.v3.DeltaDiscoveryRequest");
    this.#deltaResponseType = codec.type("envoy.service.discovery.v3.DeltaDiscoveryResponse");
    this.events.setMaxListeners(0);
    this.#unsubscribe = this.store.subscribe((key, snapshot) => this.#onSnapshot(key, snapshot));
  }

  /** Starts serving on `address` ([host]:port); returns the bound address (port 0 → a free one). */
  async listen(address: string, options: ListenOptions = {}): Promise<string> {
    // A Unix socket (`unix:/path`, the agent's): reachable only through the file system, like loopback.
    const { target, host } = address.startsWith("unix:") ? { target: address, host: "localhost" } : grpcAddress(address);
    if (!isLoopbackHost(host) && !options.tls && options.plaintext !== true) {
      throw new Error(`refusing plaintext xDS on ${address}: not a loopback address (serve TLS, or pass --xds-plaintext to accept plaintext)`);
    }
    if (!isLoopbackHost(host) && this.#authentication === "none" && !(options.unauthenticatedOffLoopback === true && options.plaintext === true && !options.tls)) {
      throw new Error(`refusing xDS without authentication on ${address}: not a loopback address (every client could claim any proxy and get its secrets; only --xds-plaintext with --xds-auth none allows it, on a network you trust entirely)`);
    }
    const server = new grpc.Server({ "grpc.max_receive_message_length": 64 * 1024 * 1024, "grpc.max_send_message_length": -1 });
    const identity = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const service: grpc.ServiceDefinition = {
      StreamAggregatedResources: {
        path: "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
        requestStream: true,
        responseStream: true,
        requestSerialize: identity,
        requestDeserialize: (bytes: Buffer) => bytes,
        responseSerialize: identity,
        responseDeserialize: (bytes: Buffer) => bytes,
      },
      DeltaAggregatedResources: {
        path: "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources",
        requestStream: true,
        responseStream: true,
        requestSerialize: identity,
        requestDeserialize: (bytes: Buffer) => bytes,
        responseSerialize: identity,
        responseDeserialize: (bytes: Buffer) => bytes,
      },
    };
    server.addService(service, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.#stream(call, "sotw"),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.#stream(call, "delta"),
    });
    this.#credentials = options.tls ? new RotatingServerCredentials(options.tls) : undefined;
    const credentials = this.#credentials ?? grpc.ServerCredentials.createInsecure();
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(target, credentials, (error, bound) => (error ? reject(error) : resolve(bound)));
    });
    this.#server = server;
    const bound = target.startsWith("unix:") ? target : host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    const auth =
      this.#authentication === "none" ? "no authentication" : this.#anonymous === "refuse" ? "bearer-token authentication" : "bearer-token authentication, clients without a token served without secrets";
    this.#log.info(`serving ADS (SotW and Delta, ${options.tls ? "TLS" : "plaintext"}, ${auth}) on ${bound}`);
    return bound;
  }

  /** The serving certificate for new TLS handshakes (streams already open keep theirs). */
  setCertificate(certificate: XdsCertificate): void {
    if (!this.#credentials) throw new Error("the xDS server is not serving TLS");
    this.#credentials.setCertificate(certificate);
  }

  /** Closes every stream at once (Envoy keeps its config and reconnects to whoever listens next). */
  async close(): Promise<void> {
    this.#unsubscribe();
    const server = this.#server;
    this.#server = undefined;
    if (server) server.forceShutdown();
    this.#connections.clear();
  }

  /** Connections (all, or one proxy's). */
  connectionCount(proxy?: string): number {
    let count = 0;
    for (const connection of this.#connections.values()) if (proxy === undefined || connection.proxy === proxy) count++;
    return count;
  }

  #stream(call: grpc.ServerDuplexStream<Buffer, Buffer>, api: "sotw" | "delta"): void {
    const connection: Connection = {
      id: ++this.#connectionIds,
      api,
      peer: call.getPeer(),
      connectedAt: Date.now(),
      admitted: this.#authentication === "none",
      anonymous: false,
      held: [],
      types: new Map(),
      write: (bytes) => {
        call.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      },
    };
    this.#connections.set(connection.id, connection);
    const end = (why: string): void => {
      if (!this.#connections.delete(connection.id)) return;
      this.#log.info(`ADS ${api} stream ${connection.id} from ${connection.peer} closed (${why})`, { proxy: connection.proxy });
    };
    const handle = (bytes: Buffer): void => {
      try {
        if (api === "sotw") this.#onRequest(connection, bytes);
        else this.#onDeltaRequest(connection, bytes);
      } catch (error) {
        this.#log.warn(`ADS stream ${connection.id}: ${error instanceof Error ? error.message : String(error)}`, { proxy: connection.proxy });
        call.emit("error", error);
        call.end();
      }
    };
    // The token is checked while the first request is on its way.
    const authenticator = this.#authentication === "none" ? undefined : this.#authentication;
    const token = bearerToken(call.metadata.get("authorization"));
    const identity = authenticator && token !== undefined ? authenticator.authenticate(token) : undefined;
    identity?.catch(() => undefined); // handled in #admit; a stream gone before its first request leaves none unhandled
    call.on("data", (bytes: Buffer) => {
      if (connection.admitted) {
        handle(bytes);
        return;
      }
      connection.held.push(bytes);
      if (connection.held.length > 1 || !authenticator) return;
      void this.#admit(connection, authenticator, identity, bytes).then(
        () => {
          if (!this.#connections.has(connection.id)) return;
          connection.admitted = true;
          const held = connection.held;
          connection.held = [];
          for (const request of held) if (this.#connections.has(connection.id)) handle(request);
        },
        (error: unknown) => {
          const refusal = error instanceof XdsAuthError ? error : new XdsAuthError("UNAUTHENTICATED", error instanceof Error ? error.message : String(error));
          this.#log.warn(`ADS ${api} stream ${connection.id} from ${connection.peer} refused (${refusal.code}): ${refusal.message}`, { proxy: connection.proxy });
          this.events.emit("refused", { connection: connection.id, peer: connection.peer, node: connection.node?.id, proxy: connection.proxy, code: refusal.code, message: refusal.message });
          connection.held = [];
          end(`refused: ${refusal.code}`);
          call.emit("error", { code: grpc.status[refusal.code], details: refusal.message, metadata: new grpc.Metadata() });
        },
      );
    });
    call.on("end", () => {
      end("client closed");
      call.end();
    });
    call.on("error", (error: Error) => end(error.message));
    call.on("cancelled", () => end("cancelled"));
  }

  /** Resolves when the stream may be served: its token is valid and entitles it to the proxy its first request's node names. */
  async #admit(connection: Connection, authenticator: Exclude<XdsAuthentication, "none">, identity: Promise<ProxyIdentity> | undefined, first: Buffer): Promise<void> {
    const request = this.#decode(connection.api, first);
    if (!identity && this.#anonymous === "serve-without-secrets") {
      this.#identify(connection, request.node as Obj | undefined);
      connection.anonymous = true;
      this.#log.info(`ADS ${connection.api} stream ${connection.id}: no token, served without secrets`, { proxy: connection.proxy });
      return;
    }
    if (!identity) throw new XdsAuthError("UNAUTHENTICATED", "no bearer token: send gRPC metadata `authorization: Bearer <token>` with a ServiceAccount token of audience pilotfish");
    this.#identify(connection, request.node as Obj | undefined);
    let who: ProxyIdentity;
    try {
      who = await identity;
    } catch (error) {
      if (error instanceof XdsAuthError) throw error;
      throw new XdsAuthError("UNAUTHENTICATED", `the token could not be verified: ${error instanceof Error ? error.message : String(error)}`);
    }
    connection.identity = who;
    if (!connection.node) throw new XdsAuthError("PERMISSION_DENIED", "the first request carries no node: cannot tell which proxy this is");
    if (!connection.proxy) throw new XdsAuthError("PERMISSION_DENIED", `node ${JSON.stringify(connection.node.id)} names no proxy (no NAMESPACE/WORKLOAD_NAME metadata, id not <type>~<ip>~<pod>.<ns>~<domain>)`);
    await authenticator.authorize(who, connection.proxy);
  }

  #identify(connection: Connection, node: Obj | undefined): void {
    if (connection.node || !node) return;
    const info: NodeInfo = {
      id: typeof node.id === "string" ? node.id : "",
      cluster: typeof node.cluster === "string" ? node.cluster : "",
      metadata: structFromPb(node.metadata as Obj | undefined),
    };
    connection.node = info;
    connection.proxy = proxyKeyOf(info);
    if (connection.proxy) this.#log.info(`ADS ${connection.api} stream ${connection.id}: node ${info.id} → proxy ${connection.proxy}`, { proxy: connection.proxy });
    else this.#log.warn(`ADS ${connection.api} stream ${connection.id}: cannot tell which gateway node ${JSON.stringify(info.id)} is (no NAMESPACE/WORKLOAD_NAME metadata, id not <type>~<ip>~<pod>.<ns>~<domain>); it gets no config`);
  }

  #state(connection: Connection, type: XdsType): TypeState {
    let state = connection.types.get(type);
    if (!state) {
      state = { requested: false, wildcard: isWildcardType(type), names: new Set(), pushes: 0, known: new Map() };
      connection.types.set(type, state);
    }
    return state;
  }

  #decode(type: "sotw" | "delta", bytes: Buffer): Obj {
    const messageType = type === "sotw" ? this.#requestType : this.#deltaRequestType;
    return messageType.toObject(messageType.decode(bytes), { longs: String, enums: String, bytes: String, defaults: false }) as Obj;
  }

  #nack(connection: Connection, type: XdsType, state: TypeState, nonce: string, errorDetail: Obj): void {
    const message = typeof errorDetail.message === "string" ? errorDetail.message : JSON.stringify(errorDetail);
    state.lastError = { message, version: state.versionSent, nonce, at: Date.now() };
    this.#log.warn(`${type} version ${state.versionSent ?? "?"} NACKed by ${connection.node?.id ?? "?"}: ${message}`, { proxy: connection.proxy });
    this.events.emit("nack", { connection: connection.id, proxy: connection.proxy, type, version: state.versionSent, message });
  }

  #ack(connection: Connection, type: XdsType, state: TypeState, nonce: string): void {
    const recovered = state.lastError !== undefined;
    state.versionAcked = state.versionSent;
    state.nonceAcked = nonce;
    state.ackedAt = Date.now();
    state.lastError = undefined;
    this.events.emit("ack", { connection: connection.id, proxy: connection.proxy, type, version: state.versionSent, recovered });
  }

  // ---- state of the world

  #onRequest(connection: Connection, bytes: Buffer): void {
    const request = this.#decode("sotw", bytes);
    this.#identify(connection, request.node as Obj | undefined);
    const type = xdsTypeOf(String(request.type_url ?? ""));
    if (!type) {
      this.#log.debug(`ADS stream ${connection.id}: ignoring request for unserved type ${String(request.type_url)}`);
      return;
    }
    const state = this.#state(connection, type);
    const nonce = typeof request.response_nonce === "string" ? request.response_nonce : "";
    const names = (request.resource_names as string[] | undefined) ?? [];
    const errorDetail = request.error_detail as Obj | undefined;
    if (nonce !== "" && nonce !== state.nonceSent) {
      this.#log.debug(`${type} request with stale nonce ${nonce} (sent ${state.nonceSent ?? "none"}) ignored`, { proxy: connection.proxy });
      return;
    }
    if (errorDetail && nonce !== "") {
      this.#nack(connection, type, state, nonce, errorDetail);
      return;
    }
    const namesChanged = this.#setNames(type, state, names);
    if (nonce === "") {
      state.requested = true;
      this.#pushSotw(connection, type, true);
      return;
    }
    // After a NACK Envoy keeps sending the rejected nonce (without error_detail) when its
    // subscriptions change: that is not an ACK of the rejected version.
    if (state.lastError?.nonce !== nonce) this.#ack(connection, type, state, nonce);
    if (namesChanged) this.#pushSotw(connection, type, true);
  }

  #setNames(type: XdsType, state: TypeState, names: string[]): boolean {
    if (isWildcardType(type)) {
      const wildcard = names.length === 0 || names.includes("*");
      const changed = wildcard !== state.wildcard;
      state.wildcard = wildcard;
      if (!wildcard) {
        const before = [...state.names].sort().join("\n");
        state.names = new Set(names);
        return changed || before !== [...state.names].sort().join("\n");
      }
      return changed;
    }
    const before = [...state.names].sort().join("\n");
    state.names = new Set(names);
    return before !== [...state.names].sort().join("\n");
  }

  #selected(snapshot: ProxySnapshot, type: XdsType, state: TypeState, connection: Connection): StoredResource[] {
    // An anonymous client (admitted without a token in "serve-without-secrets" mode) gets no secret.
    if (type === "SDS" && connection.anonymous) return [];
    const all = snapshot.types[type];
    if (state.wildcard) return [...all.values()];
    const out: StoredResource[] = [];
    for (const name of [...state.names].sort()) {
      const resource = all.get(name);
      if (resource) out.push(resource);
    }
    return out;
  }

  #nextNonce(): string {
    return `${this.#instance}-${++this.#nonce}`;
  }

  #record(connection: Connection, type: XdsType, state: TypeState, version: string, nonce: string, resources: string[], removed: string[]): void {
    state.versionSent = version;
    state.nonceSent = nonce;
    state.sentAt = Date.now();
    state.pushes++;
    const record: PushRecord = { at: state.sentAt, connection: connection.id, proxy: connection.proxy, api: connection.api, type, version, nonce, resources, removed };
    this.pushLog.push(record);
    if (this.pushLog.length > this.#pushLogSize) this.pushLog.splice(0, this.pushLog.length - this.#pushLogSize);
    this.#log.debug(`pushed ${type} ${version} (${resources.length} resources${removed.length ? `, ${removed.length} removed` : ""}) nonce ${nonce}`, { proxy: connection.proxy });
    this.events.emit("push", record);
  }

  /** Sends the type when its version for this connection differs from the last sent (or always, on force). */
  #pushSotw(connection: Connection, type: XdsType, force: boolean): void {
    const state = this.#state(connection, type);
    if (!state.requested || !connection.proxy) return;
    const snapshot = this.store.getSnapshot(connection.proxy);
    if (!snapshot) return; // answered when the proxy's first snapshot arrives
    const resources = this.#selected(snapshot, type, state, connection);
    const version = setVersion(resources);
    if (!force && version === state.versionSent) return;
    const nonce = this.#nextNonce();
    connection.write(this.#sotwResponse(type, version, resources, nonce));
    this.#record(connection, type, state, version, nonce, resources.map((resource) => resource.name), []);
  }

  /**
   * A DiscoveryResponse: the body (version, type, resources) is encoded once per type and version
   * and shared by every connection that gets that version; the per-connection nonce is appended
   * as its own field (a protobuf message is the concatenation of its fields).
   */
  #sotwResponse(type: XdsType, version: string, resources: StoredResource[], nonce: string): Uint8Array {
    const key = `${type}:${version}`;
    let body = this.#bodies.get(key);
    if (!body) {
      body = this.#responseType
        .encode(
          this.#responseType.fromObject({
            version_info: version,
            type_url: xdsTypeUrl[type],
            resources: resources.map((resource) => ({ type_url: resource.typeUrl, value: resource.bytes })),
          }),
        )
        .finish();
      if (this.#bodies.size >= 256) this.#bodies.clear();
      this.#bodies.set(key, body);
    }
    const nonceBytes = Buffer.from(nonce, "utf8");
    // DiscoveryResponse.nonce is field 5, length-delimited: tag 0x2a; nonces are < 128 bytes.
    return Buffer.concat([body, Uint8Array.of(0x2a, nonceBytes.length), nonceBytes]);
  }

  // ---- incremental

  #onDeltaRequest(connection: Connection, bytes: Buffer): void {
    const request = this.#decode("delta", bytes);
    this.#identify(connection, request.node as Obj | undefined);
    const type = xdsTypeOf(String(request.type_url ?? ""));
    if (!type) return;
    const state = this.#state(connection, type);
    const nonce = typeof request.response_nonce === "string" ? request.response_nonce : "";
    const subscribe = (request.resource_names_subscribe as string[] | undefined) ?? [];
    const unsubscribe = (request.resource_names_unsubscribe as string[] | undefined) ?? [];
    const errorDetail = request.error_detail as Obj | undefined;
    if (nonce !== "") {
      if (nonce !== state.nonceSent) this.#log.debug(`${type} delta request with stale nonce ${nonce} ignored as ACK/NACK`, { proxy: connection.proxy });
      else if (errorDetail) this.#nack(connection, type, state, nonce, errorDetail);
      else if (state.lastError?.nonce !== nonce) this.#ack(connection, type, state, nonce);
    }
    let respond = false;
    if (!state.requested) {
      state.requested = true;
      respond = true;
      const initial = (request.initial_resource_versions as Record<string, string> | undefined) ?? {};
      for (const [name, version] of Object.entries(initial)) state.known.set(name, version);
      if (isWildcardType(type)) state.wildcard = subscribe.length === 0 || subscribe.includes("*");
      else state.wildcard = false;
    }
    for (const name of subscribe) {
      if (name === "*") {
        state.wildcard = true;
        continue;
      }
      if (!state.names.has(name)) respond = true;
      state.names.add(name);
    }
    for (const name of unsubscribe) {
      if (name === "*") state.wildcard = false;
      state.names.delete(name);
      state.known.delete(name);
    }
    if (respond) this.#pushDelta(connection, type, true);
  }

  #pushDelta(connection: Connection, type: XdsType, always: boolean): void {
    const state = this.#state(connection, type);
    if (!state.requested || !connection.proxy) return;
    const snapshot = this.store.getSnapshot(connection.proxy);
    if (!snapshot) return;
    const selected = this.#selected(snapshot, type, state, connection);
    const changed = selected.filter((resource) => state.known.get(resource.name) !== resource.version);
    const present = new Set(selected.map((resource) => resource.name));
    const removed: string[] = [];
    for (const name of state.known.keys()) {
      if (present.has(name)) continue;
      if (state.wildcard || state.names.has(name)) removed.push(name);
    }
    removed.sort();
    if (changed.length === 0 && removed.length === 0 && !always) return;
    const version = setVersion(selected);
    for (const resource of changed) state.known.set(resource.name, resource.version);
    for (const name of removed) state.known.delete(name);
    const nonce = this.#nextNonce();
    const message = this.#deltaResponseType.fromObject({
      system_version_info: version,
      type_url: xdsTypeUrl[type],
      nonce,
      removed_resources: removed,
      resources: changed.map((resource) => ({
        name: resource.name,
        version: resource.version,
        resource: { type_url: resource.typeUrl, value: resource.bytes },
      })),
    });
    connection.write(this.#deltaResponseType.encode(message).finish());
    this.#record(connection, type, state, version, nonce, changed.map((resource) => resource.name), removed);
  }

  // ---- pushes

  #onSnapshot(key: string, snapshot: ProxySnapshot | undefined): void {
    if (!snapshot) return; // a deleted proxy's Envoys keep their last config
    for (const connection of this.#connections.values()) {
      if (connection.proxy !== key || !connection.admitted) continue;
      for (const type of pushOrder) {
        if (connection.api === "sotw") this.#pushSotw(connection, type, false);
        else this.#pushDelta(connection, type, false);
      }
    }
  }

  // ---- status

  #status(connection: Connection, type: XdsType, state: TypeState): SyncState {
    if (state.nonceSent === undefined) return "NOT SENT";
    if (state.lastError && state.lastError.nonce === state.nonceSent) return "NACKED";
    if (state.nonceAcked !== state.nonceSent) return "STALE";
    const snapshot = connection.proxy ? this.store.getSnapshot(connection.proxy) : undefined;
    if (snapshot && connection.api === "sotw" && setVersion(this.#selected(snapshot, type, state, connection)) !== state.versionSent) return "STALE";
    return "SYNCED";
  }

  /** What the proxy's connected Envoys reject now: each NACKED type with Envoy's message (deduplicated). */
  rejections(proxy: string): { type: XdsType; message: string }[] {
    const out = new Map<string, { type: XdsType; message: string }>();
    for (const connection of this.#connections.values()) {
      if (connection.proxy !== proxy || !connection.admitted) continue;
      for (const [type, state] of connection.types) {
        if (this.#status(connection, type, state) === "NACKED" && state.lastError) out.set(`${type}\u0000${state.lastError.message}`, { type, message: state.lastError.message });
      }
    }
    return [...out.values()].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : a.message < b.message ? -1 : 1));
  }

  /** Per connection and type: SYNCED / NOT SENT / STALE (sent, not ACKed) / NACKED, with versions, nonces and times. */
  syncStatus(): SyncStatus {
    const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());
    const proxies: SyncStatus["proxies"] = [];
    for (const connection of [...this.#connections.values()].sort((a, b) => a.id - b.id)) {
      const types: Record<string, TypeSyncStatus> = {};
      for (const type of pushOrder) {
        const state = connection.types.get(type);
        if (!state) {
          types[type] = { status: "NOT SENT", subscribed: false, pushes: 0 };
          continue;
        }
        types[type] = {
          status: this.#status(connection, type, state),
          subscribed: state.requested,
          wildcard: state.requested ? state.wildcard : undefined,
          names: state.wildcard || !state.requested ? undefined : [...state.names].sort(),
          versionSent: state.versionSent,
          versionAcked: state.versionAcked,
          nonceSent: state.nonceSent,
          nonceAcked: state.nonceAcked,
          lastPush: iso(state.sentAt),
          lastAck: iso(state.ackedAt),
          pushes: state.pushes,
          error: state.lastError ? { message: state.lastError.message, version: state.lastError.version, nonce: state.lastError.nonce, at: iso(state.lastError.at) } : undefined,
        };
      }
      proxies.push({
        connection: connection.id,
        api: connection.api,
        peer: connection.peer,
        node: connection.node?.id,
        proxy: connection.proxy,
        identity: connection.identity
          ? { namespace: connection.identity.namespace, serviceAccount: connection.identity.serviceAccount, pod: connection.identity.podName }
          : undefined,
        anonymous: connection.anonymous || undefined,
        connectedAt: new Date(connection.connectedAt).toISOString(),
        types,
      });
    }
    const snapshots: Record<string, Record<string, string>> = {};
    for (const key of this.store.keys()) snapshots[key] = { ...(this.store.getSnapshot(key)?.versions ?? {}) };
    return { server: { instance: this.#instance, startedAt: new Date(this.#started).toISOString() }, proxies, snapshots };
  }
}

export interface TypeSyncStatus {
  status: SyncState;
  subscribed: boolean;
  wildcard?: boolean;
  names?: string[];
  versionSent?: string;
  versionAcked?: string;
  nonceSent?: string;
  nonceAcked?: string;
  lastPush?: string;
  lastAck?: string;
  pushes: number;
  error?: { message: string; version: string | undefined; nonce: string; at: string | undefined };
}

export interface SyncStatus {
  server: { instance: string; startedAt: string };
  proxies: Array<{
    connection: number;
    api: "sotw" | "delta";
    peer: string;
    node: string | undefined;
    proxy: string | undefined;
    /** The authenticated identity (absent without authentication). */
    identity?: { namespace: string; serviceAccount: string; pod: string | undefined };
    /** Admitted without a token: served no secrets. */
    anonymous?: boolean;
    connectedAt: string;
    types: Record<string, TypeSyncStatus>;
  }>;
  snapshots: Record<string, Record<string, string>>;
}

