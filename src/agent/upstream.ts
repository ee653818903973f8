/**
 * The agent's upstream: one incremental (Delta) ADS stream to the operator, subscribed to every
 * resource of every type (`*`), as the gateway proxy the agent serves (the pod's node identity).
 * It only transports: responses are handed to the agent decoded, and the agent decides when to
 * ACK or NACK (after the pod's Envoy did), so the operator's /debug/syncz tells the truth.
 *
 * Transport per the proxies' contract: TLS verified against the operator's CA (`pilotfish-ca-root`)
 * for the server name `pilotfish.istio-system.svc`, and the pod's projected ServiceAccount token
 * (audience `pilotfish`) as `authorization: Bearer`, re-read on every connect (kubelet rotates
 * it). Plaintext only when asked. A stream that fails is retried with a capped back-off.
 */
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import type { EnvoyJson, EnvoyResource, JsonValue } from "../envoy/resources.js";
import { typeUrl } from "../envoy/types.js";
import type { ProtoCodec } from "../xds/codec.js";
import { pushOrder, xdsTypeOf, xdsTypeUrl } from "../xds/resources.js";
import type { XdsType } from "../xds/resources.js";

const deltaPath = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";

export interface UpstreamNode {
  id: string;
  cluster: string;
  metadata: { [key: string]: JsonValue };
}

export interface UpstreamSecurity {
  /** PEM of the CA that signed the operator's serving certificate; absent = plaintext. */
  caFile?: string;
  /** The name the operator's certificate must carry (TLS SNI and verification). */
  serverName: string;
  /** Projected ServiceAccount token sent as `authorization: Bearer`; absent = none. */
  tokenFile?: string;
}

export interface UpstreamResponse {
  /** Which stream it came on (ACKs go only to the stream that is current). */
  stream: number;
  type: XdsType;
  nonce: string;
  /** Upstream's version of the type (system_version_info). */
  version: string;
  /** Added or changed resources, decoded to Envoy JSON (`name` set, also for endpoints). */
  resources: EnvoyResource[];
  removed: string[];
}

export interface UpstreamLogger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

export interface UpstreamOptions {
  /** host:port of the operator's ADS. */
  address: string;
  security: UpstreamSecurity;
  node: UpstreamNode;
  codec: ProtoCodec;
  logger: UpstreamLogger;
  onStreamStart(stream: number): void;
  onStreamEnd(stream: number, why: string): void;
  onResponse(response: UpstreamResponse): void;
  /** Back-off between attempts: from 250 ms doubling up to this (default 5 s). */
  maxBackoffMs?: number;
}

type Obj = Record<string, unknown>;

export class Upstream {
  readonly #options: UpstreamOptions;
  readonly #client: grpc.Client;
  readonly #requestType;
  readonly #responseType;
  #call: grpc.ClientDuplexStream<Uint8Array, Buffer> | undefined;
  #stream = 0;
  #backoffMs = 250;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;
  #tokenMissing = false;

  constructor(options: UpstreamOptions) {
    this.#options = options;
    this.#requestType = options.codec.type("envoy.service.discovery.v3.DeltaDiscoveryRequest");
    this.#responseType = options.codec.type("envoy.service.discovery.v3.DeltaDiscoveryResponse");
    const { caFile, serverName } = options.security;
    const credentials = caFile ? grpc.credentials.createSsl(readFileSync(caFile)) : grpc.credentials.createInsecure();
    this.#client = new grpc.Client(options.address, credentials, {
      ...(caFile ? { "grpc.ssl_target_name_override": serverName, "grpc.default_authority": serverName } : {}),
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
      // A silent upstream (a partition, not a reset) is noticed in ~15 s, and the files take over.
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
      "grpc.keepalive_permit_without_calls": 1,
    });
  }

  /** The stream currently open (0 before the first). */
  get stream(): number {
    return this.#stream;
  }

  start(): void {
    this.#connect();
  }

  ack(stream: number, type: XdsType, nonce: string): void {
    this.#send(stream, { type_url: xdsTypeUrl[type], response_nonce: nonce });
  }

  nack(stream: number, type: XdsType, nonce: string, message: string): void {
    // google.rpc.Code INVALID_ARGUMENT, as Envoy sends.
    this.#send(stream, { type_url: xdsTypeUrl[type], response_nonce: nonce, error_detail: { code: 3, message } });
  }

  close(): void {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#call?.cancel();
    this.#client.close();
  }

  #send(stream: number, request: EnvoyJson): void {
    if (stream !== this.#stream || !this.#call) return;
    this.#call.write(this.#options.codec.encode(this.#requestType, request));
  }

  #connect(): void {
    if (this.#closed) return;
    const stream = ++this.#stream;
    const metadata = new grpc.Metadata();
    const { tokenFile } = this.#options.security;
    if (tokenFile) {
      try {
        metadata.set("authorization", `Bearer ${readFileSync(tokenFile, "utf8").trim()}`);
        this.#tokenMissing = false;
      } catch (error) {
        // The operator decides whether it serves an unauthenticated stream (plaintext on a trusted
        // network does); said once, not on every retry.
        if (!this.#tokenMissing) this.#options.logger.warn(`no token sent: cannot read ${tokenFile}: ${error instanceof Error ? error.message : String(error)}`);
        this.#tokenMissing = true;
      }
    }
    const call = this.#client.makeBidiStreamRequest(deltaPath, (bytes: Uint8Array) => Buffer.from(bytes), (bytes: Buffer) => bytes, metadata);
    this.#call = call;
    let started = false;
    let ended = false;
    const end = (why: string): void => {
      if (ended) return;
      ended = true;
      if (this.#call === call) this.#call = undefined;
      if (started) this.#options.onStreamEnd(stream, why);
      else this.#options.logger.debug(`upstream ${this.#options.address}: ${why}`);
      this.#scheduleRetry();
    };
    call.on("data", (bytes: Buffer) => {
      if (!started) {
        started = true;
        this.#backoffMs = 250;
        this.#options.onStreamStart(stream);
      }
      let response: UpstreamResponse;
      try {
        response = this.#decode(stream, bytes);
      } catch (error) {
        this.#options.logger.warn(`upstream sent a response the agent cannot decode: ${error instanceof Error ? error.message : String(error)}`);
        return;
      }
      this.#options.onResponse(response);
    });
    call.on("error", (error: grpc.ServiceError) => end(error.details || error.message));
    call.on("end", () => end("upstream closed the stream"));
    // Every type, every resource: the agent keeps the whole config, whatever Envoy asks for.
    pushOrder.forEach((type, i) => {
      const request: EnvoyJson = { type_url: xdsTypeUrl[type], resource_names_subscribe: ["*"] };
      if (i === 0) request.node = this.#options.node as unknown as EnvoyJson;
      call.write(this.#options.codec.encode(this.#requestType, request));
    });
  }

  #scheduleRetry(): void {
    if (this.#closed || this.#retry) return;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#options.maxBackoffMs ?? 5_000);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#connect();
    }, delay);
  }

  #decode(stream: number, bytes: Buffer): UpstreamResponse {
    const message = this.#responseType.toObject(this.#responseType.decode(bytes), { longs: String, enums: String, bytes: String, defaults: false }) as Obj;
    const type = xdsTypeOf(String(message.type_url ?? ""));
    if (!type) throw new Error(`unserved type ${String(message.type_url)}`);
    const resources: EnvoyResource[] = [];
    for (const item of (message.resources as Obj[] | undefined) ?? []) {
      const any = item.resource as { type_url?: string; value?: string } | undefined;
      if (!any?.type_url) continue;
      const json = this.#options.codec.decodeAny(any.type_url, Buffer.from(any.value ?? "", "base64"));
      resources.push(withName(json, typeof item.name === "string" ? item.name : ""));
    }
    return {
      stream,
      type,
      nonce: typeof message.nonce === "string" ? message.nonce : "",
      version: typeof message.system_version_info === "string" ? message.system_version_info : "",
      resources,
      removed: (message.removed_resources as string[] | undefined) ?? [],
    };
  }
}

/** A decoded resource keyed as the compiler keys it (a ClusterLoadAssignment by cluster_name). */
export function withName(json: EnvoyJson, fallback: string): EnvoyResource {
  const own = json["@type"] === typeUrl.clusterLoadAssignment ? json.cluster_name : json.name;
  const name = typeof own === "string" && own !== "" ? own : fallback;
  return { ...json, "@type": String(json["@type"]), name };
}
