/**
 * Envoy's own cost of applying the gateway's RouteConfiguration, by shape (run on purpose, not a
 * test; figures in docs/architecture.md, "Envoy's RDS apply floor"):
 *
 *   npx tsx bench/envoy-rds.ts                                  # every variant, SotW, 30 pushes each
 *   npx tsx bench/envoy-rds.ts --api sotw,delta --variants current,retry-on-vhost --pushes 30
 *   npx tsx bench/envoy-rds.ts --variants 10k --pushes 10
 *   npx tsx bench/envoy-rds.ts --scoped --pushes 30             # the same hosts as scoped routes (SRDS, Delta)
 *
 * A real Envoy (the bench's, --concurrency 1 as every bench Envoy) on the ADS bootstrap, connected
 * to a minimal ADS server in this file that only writes pre-encoded bytes: no compile, no hashing,
 * no encoding between the clock starting and the bytes leaving, so the figure is Envoy's (plus
 * gRPC framing and loopback). The config is bench/ads.ts's: 1,000 VirtualServices × 5 routes
 * compiled by src/compile (compileBench), CDS and EDS sent once at start, then per variant:
 *
 * - the variant's RouteConfiguration `http.<port>` with its 1,000 virtual hosts is pushed and ACKed;
 * - pass 0 (quiet): 10 pushes of the same configuration under a new version: Envoy decodes and
 *   validates it, sees its hash unchanged and builds nothing; its CPU is the decode's share;
 * - pass 1 (quiet): N pushes, each adding one directResponse virtual host (what a new
 *   VirtualService with a directResponse route compiles to); push → RDS ACK, and Envoy's CPU for
 *   the update (every thread's run time from /proc/<pid>/task/<tid>/schedstat, in ns, from before
 *   the push to 150 ms after the ACK, minus Envoy's idle rate; and utime+stime from
 *   /proc/<pid>/stat over the whole pass, the coarse cross-check);
 * - pass 2 (served): N more pushes, with the new host polled every 1 ms (a new connection per
 *   request, as bench/ads.ts) until Envoy answers 200: push → first good answer;
 * - Envoy's own `update_duration` histogram of the RDS subscription (the `http.<prefix>.rds.
 *   http.<port>.update_duration` stat): the samples of passes 0-2 (its bins before and after);
 *   and `runtime.deprecated_feature_use` per push (Envoy counts every deprecated field it meets).
 *
 * `--scoped`: the same hosts through `scoped_routes` (runScoped below), Delta only; half the
 * pushes quiet (ACK, CPU), half polled (served).
 *
 * Variants (docs/architecture.md says which are equivalent for Envoy's behaviour, and why):
 * current, retry-on-vhost, metadata-on-vhost, hoisted (both), max-stream-duration (the deprecated
 * max_grpc_timeout written as max_stream_duration.grpc_timeout_header_max), hoisted-msd (all
 * three), no-route-metadata, no-host-predicate,
 * no-max-grpc-timeout, lean (retry on vhost without predicate, no metadata, no
 * max_grpc_timeout), bare (match + cluster only), one-route (1,000 × the catch-all route),
 * 10k (10,000 virtual hosts, current shape; CDS still has the 1,000 clusters: validate_clusters
 * is false, so building routes looks no cluster up), and current-again (drift check).
 */
import { readFileSync, readdirSync } from "node:fs";
import { loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import type protobuf from "protobufjs";
import { envoyJson } from "../src/envoy/cluster.js";
import type { EnvoyJson, EnvoyResource, EnvoyResources, JsonValue } from "../src/envoy/resources.js";
import type { GatewayProxy } from "../src/model/proxy.js";
import { adsBootstrap } from "../src/xds/bootstrap.js";
import { ProtoCodec } from "../src/xds/codec.js";
import { startEnvoy } from "../test/support/envoy.js";
import type { Envoy } from "../test/support/envoy.js";
import { freePort, httpRequest } from "../test/support/net.js";
import { compileBench, directResponseVs } from "./ads.js";

const typeUrls = {
  CDS: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  EDS: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
  LDS: "type.googleapis.com/envoy.config.listener.v3.Listener",
  RDS: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  SRDS: "type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration",
} as const;
type XdsType = keyof typeof typeUrls;
const typeOfUrl = new Map<string, XdsType>(Object.entries(typeUrls).map(([type, url]) => [url, type as XdsType]));

/** The gateway's HTTP route configuration: `http.<target port>`, the port Envoy listens on. */
const routeNameFor = (httpPort: number): string => `http.${httpPort}`;

// ---- encoding (all before any clock starts)

/** A length-delimited protobuf field: tag, varint length, bytes. */
function lengthDelimited(field: number, bytes: Uint8Array): Buffer {
  const header: number[] = [(field << 3) | 2];
  let length = bytes.length;
  while (length > 0x7f) {
    header.push((length & 0x7f) | 0x80);
    length >>>= 7;
  }
  header.push(length);
  return Buffer.concat([Uint8Array.from(header), bytes]);
}

/**
 * A RouteConfiguration as bytes: its own fields once, then each virtual host encoded once and
 * reused (a message is the concatenation of its fields, so field 2 `virtual_hosts` can be
 * appended); N pushes of 1,000 hosts cost one encode of each host, not N.
 */
class RouteConfigBytes {
  readonly #head: Uint8Array;
  readonly #hosts: Buffer[];

  constructor(codec: ProtoCodec, routeConfig: EnvoyJson) {
    const { "@type": _type, virtual_hosts: hosts, ...rest } = routeConfig;
    const routeType = codec.type("envoy.config.route.v3.RouteConfiguration");
    this.#head = codec.encode(routeType, rest);
    const hostType = codec.type("envoy.config.route.v3.VirtualHost");
    this.#hosts = (hosts as EnvoyJson[]).map((host) => lengthDelimited(2, codec.encode(hostType, host)));
  }

  /** The configuration with the first `count` hosts plus `extra` (already encoded). */
  bytes(extra: Buffer[] = []): Buffer {
    return Buffer.concat([this.#head, ...this.#hosts, ...extra]);
  }
}

interface Encoded {
  codec: ProtoCodec;
  response: protobuf.Type;
  deltaResponse: protobuf.Type;
  request: protobuf.Type;
  deltaRequest: protobuf.Type;
}

function encodedTypes(codec: ProtoCodec): Encoded {
  return {
    codec,
    response: codec.type("envoy.service.discovery.v3.DiscoveryResponse"),
    deltaResponse: codec.type("envoy.service.discovery.v3.DeltaDiscoveryResponse"),
    request: codec.type("envoy.service.discovery.v3.DiscoveryRequest"),
    deltaRequest: codec.type("envoy.service.discovery.v3.DeltaDiscoveryRequest"),
  };
}

interface NamedBytes {
  name: string;
  bytes: Uint8Array;
}

/** The response body for one type and version, without its nonce (appended per write). */
function responseBody(types: Encoded, api: Api, type: XdsType, version: string, resources: NamedBytes[]): Buffer {
  const typeUrl = typeUrls[type];
  if (api === "sotw") {
    const message = types.response.fromObject({ version_info: version, type_url: typeUrl, resources: resources.map((r) => ({ type_url: typeUrl, value: r.bytes })) });
    return Buffer.from(types.response.encode(message).finish());
  }
  const message = types.deltaResponse.fromObject({
    system_version_info: version,
    type_url: typeUrl,
    resources: resources.map((r) => ({ name: r.name, version, resource: { type_url: typeUrl, value: r.bytes } })),
  });
  return Buffer.from(types.deltaResponse.encode(message).finish());
}

// ---- the minimal ADS server

type Api = "sotw" | "delta";

interface Ack {
  type: XdsType;
  nonce: string;
  at: number;
  error?: string;
}

/**
 * Answers Envoy's first request for each type (and a SotW name-list change) with the bytes it
 * holds, writes what it is told to, and reports ACKs and NACKs with their arrival time. Nothing
 * else: Envoy's subscriptions are known in advance (wildcard CDS and LDS, every EDS name, the one
 * route configuration). In the scoped mode (Delta only), RDS names are served as Envoy subscribes
 * to them, from `serveByName` (encoded then: only the new scope's small configuration).
 */
class PreEncodedAds {
  readonly #types: Encoded;
  readonly #server = new grpc.Server({ "grpc.max_receive_message_length": 64 * 1024 * 1024, "grpc.max_send_message_length": -1 });
  readonly #initial = new Map<XdsType, Buffer>();
  #call: grpc.ServerDuplexStream<Buffer, Buffer> | undefined;
  #api: Api | undefined;
  #nonce = 0;
  readonly #lastNonce = new Map<XdsType, string>();
  readonly #answered = new Map<XdsType, string>();
  #waiters: Array<(ack: Ack) => void> = [];
  readonly nacks: Ack[] = [];
  readonly #byName = new Map<XdsType, Map<string, Uint8Array>>();
  /** Every write: type, nonce, time (the scoped mode waits for the RDS answer a push caused). */
  readonly writes: Array<{ type: XdsType; nonce: string; at: number }> = [];
  readonly #acks = new Map<string, Ack>();

  constructor(types: Encoded) {
    this.#types = types;
    const identity = (value: Buffer): Buffer => value;
    const method = (path: string): grpc.MethodDefinition<Buffer, Buffer> => ({
      path,
      requestStream: true,
      responseStream: true,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    });
    this.#server.addService(
      {
        StreamAggregatedResources: method("/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"),
        DeltaAggregatedResources: method("/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"),
      },
      {
        StreamAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.#stream(call, "sotw"),
        DeltaAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.#stream(call, "delta"),
      },
    );
  }

  async listen(): Promise<number> {
    return new Promise((resolve, reject) =>
      this.#server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))),
    );
  }

  /** What to answer a type's first request with (a body from responseBody). */
  setInitial(type: XdsType, body: Buffer): void {
    this.#initial.set(type, body);
  }

  /** Resources of a type answered by name as Envoy subscribes (Delta). */
  serveByName(type: XdsType, name: string, bytes: Uint8Array): void {
    let resources = this.#byName.get(type);
    if (!resources) this.#byName.set(type, (resources = new Map()));
    resources.set(name, bytes);
  }

  get api(): Api | undefined {
    return this.#api;
  }

  /** Writes a body with a fresh nonce (field 5 in both response messages); returns the nonce. */
  write(type: XdsType, body: Buffer): string {
    if (!this.#call) throw new Error("no ADS stream");
    const nonce = String(++this.#nonce);
    this.#lastNonce.set(type, nonce);
    this.writes.push({ type, nonce, at: performance.now() });
    this.#call.write(Buffer.concat([body, lengthDelimited(5, Buffer.from(nonce))]));
    return nonce;
  }

  /** The next ACK or NACK of `nonce`. */
  acked(nonce: string, timeoutMs: number): Promise<Ack> {
    const seen = this.#acks.get(nonce);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ACK for nonce ${nonce} within ${timeoutMs} ms`)), timeoutMs);
      const waiter = (ack: Ack): void => {
        if (ack.nonce !== nonce) return;
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(ack);
      };
      this.#waiters.push(waiter);
    });
  }

  async close(): Promise<void> {
    this.#call?.end();
    this.#server.forceShutdown();
  }

  #stream(call: grpc.ServerDuplexStream<Buffer, Buffer>, api: Api): void {
    this.#call = call;
    this.#api = api;
    this.#answered.clear();
    call.on("data", (bytes: Buffer) => this.#onRequest(api, bytes));
    call.on("error", () => undefined);
  }

  #onRequest(api: Api, bytes: Buffer): void {
    const at = performance.now();
    const type = api === "sotw" ? this.#types.request : this.#types.deltaRequest;
    const request = type.toObject(type.decode(bytes), { defaults: false }) as {
      type_url?: string;
      response_nonce?: string;
      resource_names?: string[];
      resource_names_subscribe?: string[];
      error_detail?: { message?: string };
    };
    const xdsType = typeOfUrl.get(request.type_url ?? "");
    if (!xdsType) return;
    const nonce = request.response_nonce ?? "";
    if (nonce !== "" && nonce === this.#lastNonce.get(xdsType)) {
      const ack: Ack = { type: xdsType, nonce, at, ...(request.error_detail ? { error: request.error_detail.message ?? "NACK" } : {}) };
      if (ack.error) this.nacks.push(ack);
      this.#acks.set(nonce, ack);
      for (const waiter of [...this.#waiters]) waiter(ack);
    }
    const byName = this.#byName.get(xdsType);
    if (byName && api === "delta") {
      const wanted = (request.resource_names_subscribe ?? []).filter((name) => byName.has(name));
      if (wanted.length > 0) {
        const resources = wanted.map((name) => ({ name, bytes: byName.get(name)! }));
        this.write(xdsType, responseBody(this.#types, api, xdsType, `by-name-${this.#nonce}`, resources));
      }
      return;
    }
    const names = JSON.stringify([...(request.resource_names ?? request.resource_names_subscribe ?? [])].sort());
    // Answer a type once, and again in SotW when its name list changes (EDS as clusters warm).
    const previous = this.#answered.get(xdsType);
    if (previous === undefined || (api === "sotw" && previous !== names && nonce === this.#lastNonce.get(xdsType))) {
      const body = this.#initial.get(xdsType);
      if (!body) return;
      this.#answered.set(xdsType, names);
      this.write(xdsType, body);
    }
  }
}

// ---- variants of the RouteConfiguration

type RouteJson = EnvoyJson & { route?: { [key: string]: JsonValue } };
interface VirtualHostJson extends EnvoyJson {
  routes: RouteJson[];
}

const clone = <T>(value: T): T => structuredClone(value);
const hosts = (config: EnvoyJson): VirtualHostJson[] => config.virtual_hosts as unknown as VirtualHostJson[];
function withHosts(config: EnvoyJson, map: (host: VirtualHostJson) => VirtualHostJson): EnvoyJson {
  return { ...config, virtual_hosts: hosts(config).map((host) => map(clone(host))) as unknown as JsonValue };
}

/** The value most routes of a host hold, or undefined when the host has none. */
function mostCommon(values: string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
}

/**
 * The retry policy most routes of a host share moves to the host, and is dropped from the
 * routes that hold it; routes with another policy keep theirs. Only when every forwarding route
 * has a policy of its own (a route without one would inherit the host's: config_impl.cc
 * buildRetryPolicy, "route specific policy wins ... If not, we fallback to the virtual host
 * policy"). Direct-response and redirect routes never retry.
 */
function retryOnVhost(host: VirtualHostJson): VirtualHostJson {
  const forwarding = host.routes.filter((route) => route.route !== undefined);
  if (forwarding.length === 0 || forwarding.some((route) => route.route!.retry_policy === undefined)) return host;
  const common = mostCommon(forwarding.map((route) => JSON.stringify(route.route!.retry_policy)));
  if (common === undefined) return host;
  for (const route of forwarding) {
    if (JSON.stringify(route.route!.retry_policy) === common) delete route.route!.retry_policy;
  }
  return { ...host, retry_policy: JSON.parse(common) as JsonValue };
}

function metadataOnVhost(host: VirtualHostJson): VirtualHostJson {
  const all = host.routes.map((route) => JSON.stringify(route.metadata));
  if (all.length === 0 || all[0] === undefined || all.some((m) => m !== all[0])) return host;
  for (const route of host.routes) delete route.metadata;
  return { ...host, metadata: JSON.parse(all[0]) as JsonValue };
}

function dropFromRoutes(host: VirtualHostJson, drop: (route: RouteJson) => void): VirtualHostJson {
  for (const route of host.routes) drop(route);
  return host;
}

const dropMetadata = (route: RouteJson): void => void delete route.metadata;
const dropHostPredicate = (policy: JsonValue | undefined): void => {
  if (policy && typeof policy === "object" && !Array.isArray(policy)) {
    delete policy.retry_host_predicate;
    delete policy.host_selection_retry_max_attempts;
  }
};
const dropMaxGrpcTimeout = (route: RouteJson): void => void (route.route && delete route.route.max_grpc_timeout);
/** The deprecated max_grpc_timeout as its replacement, max_stream_duration.grpc_timeout_header_max. */
const maxStreamDuration = (route: RouteJson): void => {
  if (!route.route || route.route.max_grpc_timeout === undefined) return;
  route.route.max_stream_duration = { grpc_timeout_header_max: route.route.max_grpc_timeout };
  delete route.route.max_grpc_timeout;
};

interface Variant {
  name: string;
  /** Virtual hosts loaded before the pushes. */
  size: number;
  shape(config: EnvoyJson): EnvoyJson;
}

const variants: Variant[] = [
  { name: "current", size: 1000, shape: (c) => c },
  { name: "retry-on-vhost", size: 1000, shape: (c) => withHosts(c, retryOnVhost) },
  { name: "metadata-on-vhost", size: 1000, shape: (c) => withHosts(c, metadataOnVhost) },
  { name: "hoisted", size: 1000, shape: (c) => withHosts(c, (h) => metadataOnVhost(retryOnVhost(h))) },
  { name: "max-stream-duration", size: 1000, shape: (c) => withHosts(c, (h) => dropFromRoutes(h, maxStreamDuration)) },
  { name: "hoisted-msd", size: 1000, shape: (c) => withHosts(c, (h) => metadataOnVhost(retryOnVhost(dropFromRoutes(h, maxStreamDuration)))) },
  { name: "no-route-metadata", size: 1000, shape: (c) => withHosts(c, (h) => dropFromRoutes(h, dropMetadata)) },
  { name: "no-host-predicate", size: 1000, shape: (c) => withHosts(c, (h) => dropFromRoutes(h, (r) => dropHostPredicate(r.route?.retry_policy))) },
  { name: "no-max-grpc-timeout", size: 1000, shape: (c) => withHosts(c, (h) => dropFromRoutes(h, dropMaxGrpcTimeout)) },
  {
    name: "lean",
    size: 1000,
    shape: (c) =>
      withHosts(c, (h) => {
        const lean = retryOnVhost(dropFromRoutes(h, (r) => {
          dropMetadata(r);
          dropMaxGrpcTimeout(r);
          dropHostPredicate(r.route?.retry_policy);
        }));
        dropHostPredicate(lean.retry_policy);
        return lean;
      }),
  },
  {
    name: "bare",
    size: 1000,
    shape: (c) =>
      withHosts(c, (h) => ({
        name: h.name ?? "",
        domains: h.domains ?? [],
        routes: h.routes.map((r) => ({ match: r.match ?? {}, ...(r.route ? { route: { cluster: r.route.cluster ?? "" } } : {}), ...(r.direct_response ? { direct_response: r.direct_response } : {}) })),
      })),
  },
  { name: "one-route", size: 1000, shape: (c) => withHosts(c, (h) => ({ ...h, routes: h.routes.slice(-1) })) },
  { name: "10k", size: 10000, shape: (c) => c },
  { name: "current-again", size: 1000, shape: (c) => c },
];

// ---- measuring Envoy

/** Every thread's CPU time so far, ns (schedstat's first field; ns resolution). */
function threadsCpuNs(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // a thread that just exited
    }
  }
  return total;
}

/** utime + stime of the whole process, in clock ticks (1/100 s on Linux). */
function processTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

interface Bucket {
  lower_bound: number;
  width: number;
  count: number;
}

/**
 * Envoy's own figure: the RDS subscription's `update_duration` histogram, its cumulative bucket
 * counts (circllhist bins: fixed bounds, so two readings subtract bin by bin). The bootstrap
 * flushes stats when admin reads them and the flush merges the workers' histograms after that
 * read has answered: a first read starts the merge, a second one a moment later sees it.
 */
async function updateDurationBins(envoy: Envoy, routeName: string): Promise<Map<string, Bucket>> {
  const suffix = `.rds.${routeName}.update_duration`;
  await envoy.admin(`/stats?filter=${encodeURIComponent(suffix)}$`);
  await sleep(300);
  const body = JSON.parse(await envoy.admin(`/stats?format=json&histogram_buckets=detailed&filter=${encodeURIComponent(suffix)}$`)) as {
    stats?: Array<{ histograms?: { details?: Array<{ name: string; totals?: Bucket[] }> } }>;
  };
  const bins = new Map<string, Bucket>();
  for (const detail of (body.stats ?? []).flatMap((stat) => stat.histograms?.details ?? [])) {
    if (!detail.name.endsWith(suffix)) continue;
    for (const bin of detail.totals ?? []) bins.set(`${bin.lower_bound}/${bin.width}`, bin);
  }
  return bins;
}

/** p50 / p95 / p99 (bin midpoints) of the samples recorded between two readings. */
function binsDelta(before: Map<string, Bucket>, after: Map<string, Bucket>): { count: number; p: (q: number) => number } {
  const delta = [...after.entries()]
    .map(([key, bin]) => ({ ...bin, count: bin.count - (before.get(key)?.count ?? 0) }))
    .filter((bin) => bin.count > 0)
    .sort((a, b) => a.lower_bound - b.lower_bound);
  const count = delta.reduce((sum, b) => sum + b.count, 0);
  return {
    count,
    p: (q) => {
      let seen = 0;
      for (const bin of delta) {
        seen += bin.count;
        if (seen >= (q / 100) * count) return bin.lower_bound + bin.width / 2;
      }
      return NaN;
    },
  };
}

const percentile = (values: number[], p: number): number => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  return sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
};
const p3 = (values: number[]): string => [50, 95, 99].map((p) => percentile(values, p).toFixed(1)).join(" / ");
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(" ");


interface Row {
  variant: string;
  api: Api;
  hosts: number;
  rdsKiB: number;
  ackMs: number[];
  servedMs: number[];
  cpuMs: number[];
  /** CPU of a push whose content Envoy already has (decode + validate + hash, no build). */
  unchangedCpuMs: number[];
  /** Envoy's runtime.deprecated_feature_use per push (each use of a deprecated field is counted). */
  deprecatedPerPush: number;
  ticksMsPerUpdate: number;
  envoyUpdate: string;
}

interface Prepared {
  variant: Variant;
  config: RouteConfigBytes;
  /** The directResponse hosts the pushes add, in order, encoded. */
  added: Buffer[];
}

const proxyFor = (httpPort: number): GatewayProxy => ({ name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway" }, servicePorts: [{ port: 80, targetPort: httpPort }] });

function routeConfigOf(resources: EnvoyResources, routeName: string): EnvoyJson {
  const config = resources.routes.find((route) => route.name === routeName);
  if (!config) throw new Error(`the compiled config has no ${routeName}`);
  return config;
}

/** Compiles `size` VirtualServices plus `pushes` directResponse ones and shapes them. */
function prepare(codec: ProtoCodec, variant: Variant, pushes: number, httpPort: number): Prepared {
  const extra = Array.from({ length: pushes }, (_, i) => directResponseVs(i));
  const shaped = variant.shape(routeConfigOf(compileBench(variant.size, proxyFor(httpPort), extra), routeNameFor(httpPort)));
  const isAdded = (host: VirtualHostJson): boolean => /^new-\d+\./.test(String(host.name));
  const base = { ...shaped, virtual_hosts: hosts(shaped).filter((h) => !isAdded(h)) as unknown as JsonValue };
  const hostType = codec.type("envoy.config.route.v3.VirtualHost");
  const added = hosts(shaped)
    .filter(isAdded)
    .sort((a, b) => Number(/^new-(\d+)/.exec(String(a.name))![1]) - Number(/^new-(\d+)/.exec(String(b.name))![1]))
    .map((host) => lengthDelimited(2, codec.encode(hostType, host)));
  if (added.length !== pushes) throw new Error(`expected ${pushes} directResponse hosts, compiled ${added.length}`);
  return { variant, config: new RouteConfigBytes(codec, base), added };
}

async function servedBy(httpPort: number, i: number): Promise<boolean> {
  try {
    const response = await httpRequest({ url: `http://127.0.0.1:${httpPort}/`, headers: { host: `new-${i}.bench.example.com` }, timeoutMs: 2000 });
    return response.status === 200 && response.body === `new-${i}`;
  } catch {
    return false;
  }
}

const ACK_TIMEOUT_MS = 600_000;
const SETTLE_MS = 150;

async function measureVariant(types: Encoded, ads: PreEncodedAds, envoy: Envoy, api: Api, prepared: Prepared, httpPort: number): Promise<Row> {
  const pid = envoy.process.child.pid!;
  const { config, added, variant } = prepared;
  const routeName = routeNameFor(httpPort);
  let version = 0;
  const push = (extra: Buffer[]): { nonce: string; at: number } => {
    const rc = config.bytes(extra);
    const body = responseBody(types, api, "RDS", `${variant.name}-${++version}`, [{ name: routeName, bytes: rc }]);
    const at = performance.now();
    return { nonce: ads.write("RDS", body), at };
  };
  const checkAck = async (nonce: string): Promise<Ack> => {
    const ack = await ads.acked(nonce, ACK_TIMEOUT_MS);
    if (ack.error) throw new Error(`${variant.name}: Envoy NACKed the route configuration: ${ack.error}`);
    return ack;
  };
  // The variant's base configuration, then quiet: Envoy's idle CPU rate.
  await checkAck(push([]).nonce);
  await sleep(1000);
  const idleStart = threadsCpuNs(pid);
  const idleT0 = performance.now();
  await sleep(1000);
  const idleNsPerMs = (threadsCpuNs(pid) - idleStart) / (performance.now() - idleT0);
  const binsBefore = await updateDurationBins(envoy, routeName);
  const deprecatedBefore = (await envoy.stat("runtime.deprecated_feature_use")) ?? 0;

  // Pass 0, quiet: the same configuration again under a new version. Envoy decodes and validates
  // it, finds its hash unchanged and builds nothing (rds_impl.cc onRdsUpdate): what that costs.
  const unchangedCpuMs: number[] = [];
  for (let i = 0; i < Math.min(10, added.length); i++) {
    const cpu0 = threadsCpuNs(pid);
    const { nonce, at } = push([]);
    await checkAck(nonce);
    await sleep(SETTLE_MS);
    unchangedCpuMs.push((threadsCpuNs(pid) - cpu0 - idleNsPerMs * (performance.now() - at)) / 1e6);
  }

  // Pass 1, quiet: push → ACK, Envoy CPU per update.
  const ackMs: number[] = [];
  const cpuMs: number[] = [];
  const ticksBefore = processTicks(pid);
  for (let i = 0; i < added.length; i++) {
    const cpu0 = threadsCpuNs(pid);
    const { nonce, at } = push(added.slice(0, i + 1));
    const ack = await checkAck(nonce);
    ackMs.push(ack.at - at);
    await sleep(SETTLE_MS);
    const window = performance.now() - at;
    cpuMs.push((threadsCpuNs(pid) - cpu0 - idleNsPerMs * window) / 1e6);
  }
  const ticksMsPerUpdate = ((processTicks(pid) - ticksBefore) * 10) / added.length;

  // Pass 2: push → the new host answered (polled every 1 ms). Back to the base first.
  await checkAck(push([]).nonce);
  await sleep(500);
  const servedMs: number[] = [];
  for (let i = 0; i < added.length; i++) {
    const { nonce, at } = push(added.slice(0, i + 1));
    const acked = checkAck(nonce);
    for (;;) {
      if (await servedBy(httpPort, i)) break;
      if (performance.now() - at > ACK_TIMEOUT_MS) throw new Error(`new-${i} never served`);
      await sleep(1);
    }
    servedMs.push(performance.now() - at);
    ackMs.push((await acked).at - at);
    await sleep(50);
  }
  const updates = binsDelta(binsBefore, await updateDurationBins(envoy, routeName));
  const deprecatedPerPush = (((await envoy.stat("runtime.deprecated_feature_use")) ?? 0) - deprecatedBefore) / (version - 1);
  const envoyUpdate = updates.count === 0 ? "n/a" : `${[50, 95, 99].map((q) => updates.p(q).toFixed(1)).join(" / ")} (${updates.count})`;
  return {
    variant: variant.name,
    api,
    hosts: variant.size,
    rdsKiB: config.bytes(added).length / 1024,
    ackMs,
    servedMs,
    cpuMs,
    unchangedCpuMs,
    deprecatedPerPush,
    ticksMsPerUpdate,
    envoyUpdate,
  };
}

function resourcesOf(list: EnvoyResource[], codec: ProtoCodec): NamedBytes[] {
  return list.map((resource) => ({ name: resource.name, bytes: codec.encodeAny(envoyJson(resource)).value }));
}

async function runApi(api: Api, selected: Variant[], pushes: number, codec: ProtoCodec): Promise<Row[]> {
  const types = encodedTypes(codec);
  const httpPort = await freePort();
  const startup = compileBench(1000, proxyFor(httpPort));
  const listeners = JSON.parse(JSON.stringify(startup.listeners).replaceAll('"address":"0.0.0.0"', '"address":"127.0.0.1"')) as EnvoyResource[];
  const ads = new PreEncodedAds(types);
  ads.setInitial("CDS", responseBody(types, api, "CDS", "1", resourcesOf(startup.clusters, codec)));
  ads.setInitial("EDS", responseBody(types, api, "EDS", "1", resourcesOf(startup.endpoints, codec)));
  ads.setInitial("LDS", responseBody(types, api, "LDS", "1", resourcesOf(listeners, codec)));
  // Envoy's first RDS answer: the first variant's base; each variant then pushes its own.
  const first = prepare(codec, selected[0]!, pushes, httpPort);
  ads.setInitial("RDS", responseBody(types, api, "RDS", "0", [{ name: routeNameFor(httpPort), bytes: first.config.bytes() }]));
  const xdsPort = await ads.listen();
  let envoy: Envoy | undefined;
  const rows: Row[] = [];
  try {
    envoy = await startEnvoy({
      bootstrap: {
        ...adsBootstrap({ xdsHost: "127.0.0.1", xdsPort, apiType: api === "sotw" ? "GRPC" : "DELTA_GRPC", adminPort: 0, namespace: "istio-system", workloadName: "istio-ingressgateway" }),
        // Histograms are merged at a stats flush: flush when admin reads them (and not on a timer,
        // so no flush runs inside a measurement).
        stats_flush_on_admin: true,
      },
      name: `bench-envoy-rds-${api}`,
      logLevel: "warn",
      readyTimeoutMs: 600_000,
    });
    process.stderr.write(`${api}: Envoy ready in ${envoy.startupMs} ms (load ${load()})\n`);
    for (const [index, variant] of selected.entries()) {
      const prepared = index === 0 ? first : prepare(codec, variant, pushes, httpPort);
      const row = await measureVariant(types, ads, envoy, api, prepared, httpPort);
      process.stderr.write(`${api} ${variant.name}: ack p50 ${percentile(row.ackMs, 50).toFixed(1)} ms, cpu p50 ${percentile(row.cpuMs, 50).toFixed(1)} ms (load ${load()})\n`);
      rows.push(row);
    }
    if (ads.nacks.length > 0) throw new Error(`NACKs: ${ads.nacks.map((n) => n.error).join("; ")}`);
  } finally {
    await envoy?.stop();
    await ads.close();
  }
  return rows;
}

// ---- the scoped mode: one small RouteConfiguration per host, chosen by the Host header (SRDS)

/**
 * The same hosts served through the HTTP connection manager's `scoped_routes` instead of one
 * `rds` configuration: a ScopedRouteConfiguration per host, keyed by the whole `:authority`
 * header, naming a RouteConfiguration that holds that host alone. A new host is one new scope
 * (Delta SRDS) plus one new 1-host configuration that Envoy then subscribes to (Delta RDS);
 * nothing else is rebuilt. NOT equivalent to the current shape (docs/architecture.md): the key
 * is the exact header, so wildcard hosts (`*.example.com`), a Host with a port, and several
 * hosts in one virtual host need more scopes or cannot be expressed.
 */
async function runScoped(pushes: number, codec: ProtoCodec): Promise<Row> {
  const api: Api = "delta";
  const types = encodedTypes(codec);
  const httpPort = await freePort();
  const extra = Array.from({ length: pushes }, (_, i) => directResponseVs(i));
  const compiled = compileBench(1000, proxyFor(httpPort), extra);
  const routeConfig = routeConfigOf(compiled, routeNameFor(httpPort));
  const { virtual_hosts: _hosts, "@type": _type, ...routeFields } = routeConfig;
  const scopesName = `${routeNameFor(httpPort)}.scopes`;
  const listeners = (JSON.parse(JSON.stringify(compiled.listeners).replaceAll('"address":"0.0.0.0"', '"address":"127.0.0.1"')) as EnvoyJson[]).map((listener) => {
    const text = JSON.stringify(listener);
    const rds = JSON.stringify({ config_source: { ads: {}, resource_api_version: "V3" }, route_config_name: routeNameFor(httpPort) });
    if (!text.includes(`"rds":${rds}`)) throw new Error("the compiled listener has no rds to replace");
    const scoped = {
      name: scopesName,
      scope_key_builder: { fragments: [{ header_value_extractor: { name: ":authority", index: 0 } }] },
      rds_config_source: { ads: {}, resource_api_version: "V3" },
      scoped_rds: { scoped_rds_config_source: { ads: {}, resource_api_version: "V3" } },
    };
    return JSON.parse(text.replace(`"rds":${rds}`, `"scoped_routes":${JSON.stringify(scoped)}`)) as EnvoyJson;
  });
  const routeType = codec.type("envoy.config.route.v3.RouteConfiguration");
  const scopeType = codec.type("envoy.config.route.v3.ScopedRouteConfiguration");
  const perHost = hosts(routeConfig).map((host) => {
    const rcName = `rc-${String(host.name)}`;
    const domain = String((host.domains as string[])[0]);
    return {
      name: String(host.name),
      rc: { name: rcName, bytes: codec.encode(routeType, { ...routeFields, name: rcName, virtual_hosts: [{ ...host, domains: ["*"] }] } as JsonValue) },
      scope: { name: `scope-${domain}`, bytes: codec.encode(scopeType, { name: `scope-${domain}`, route_configuration_name: rcName, key: { fragments: [{ string_key: domain }] } }) },
    };
  });
  const isAdded = (name: string): boolean => /^new-\d+\./.test(name);
  const base = perHost.filter((h) => !isAdded(h.name));
  const added = perHost.filter((h) => isAdded(h.name)).sort((a, b) => Number(/^new-(\d+)/.exec(a.name)![1]) - Number(/^new-(\d+)/.exec(b.name)![1]));
  const ads = new PreEncodedAds(types);
  ads.setInitial("CDS", responseBody(types, api, "CDS", "1", resourcesOf(compiled.clusters, codec)));
  ads.setInitial("EDS", responseBody(types, api, "EDS", "1", resourcesOf(compiled.endpoints, codec)));
  ads.setInitial("LDS", responseBody(types, api, "LDS", "1", listeners.map((l) => ({ name: String(l.name), bytes: codec.encodeAny(l).value }))));
  ads.setInitial("SRDS", responseBody(types, api, "SRDS", "1", base.map((h) => h.scope)));
  for (const host of perHost) ads.serveByName("RDS", host.rc.name, host.rc.bytes);
  const xdsPort = await ads.listen();
  let envoy: Envoy | undefined;
  try {
    envoy = await startEnvoy({
      bootstrap: { ...adsBootstrap({ xdsHost: "127.0.0.1", xdsPort, apiType: "DELTA_GRPC", adminPort: 0, namespace: "istio-system", workloadName: "istio-ingressgateway" }), stats_flush_on_admin: true },
      name: "bench-envoy-srds",
      logLevel: "warn",
      readyTimeoutMs: 600_000,
    });
    const pid = envoy.process.child.pid!;
    // Every base host served before measuring (Envoy subscribes to 1,000 configurations).
    for (;;) {
      const text = await envoy.admin("/stats?filter=rds.rc-.*update_success$");
      if ((text.match(/: [1-9]/g) ?? []).length >= base.length) break;
      await sleep(200);
    }
    // Routing as before: a base host reaches its route (503: its endpoints do not listen), an
    // unknown host gets Envoy's 404 (no scope).
    const status = async (host: string): Promise<number> => (await httpRequest({ url: `http://127.0.0.1:${httpPort}/`, headers: { host }, timeoutMs: 5000 })).status;
    const [known, unknown] = [await status("svc-7.bench.example.com"), await status("nowhere.bench.example.com")];
    if (known !== 503 || unknown !== 404) throw new Error(`scoped routing is off: a base host got ${known} (503 expected), an unknown one ${unknown} (404 expected)`);
    await sleep(1000);
    const idleStart = threadsCpuNs(pid);
    const idleT0 = performance.now();
    await sleep(1000);
    const idleNsPerMs = (threadsCpuNs(pid) - idleStart) / (performance.now() - idleT0);
    let version = 1;
    const push = (count: number): { nonce: string; at: number } => {
      const body = responseBody(types, api, "SRDS", String(++version), added.slice(count - 1, count).map((h) => h.scope));
      const at = performance.now();
      return { nonce: ads.write("SRDS", body), at };
    };
    /** The SRDS ACK, then the RDS answer the new scope caused and its ACK. */
    const settled = async (nonce: string, at: number): Promise<Ack> => {
      const scopeAck = await ads.acked(nonce, ACK_TIMEOUT_MS);
      if (scopeAck.error) throw new Error(`SRDS NACKed: ${scopeAck.error}`);
      for (;;) {
        const answer = ads.writes.find((w) => w.type === "RDS" && w.at >= at);
        if (answer) {
          const ack = await ads.acked(answer.nonce, ACK_TIMEOUT_MS);
          if (ack.error) throw new Error(`RDS NACKed: ${ack.error}`);
          return ack;
        }
        await sleep(1);
      }
    };
    const ackMs: number[] = [];
    const cpuMs: number[] = [];
    const servedMs: number[] = [];
    const ticksBefore = processTicks(pid);
    const half = Math.floor(added.length / 2);
    for (let i = 1; i <= half; i++) {
      const cpu0 = threadsCpuNs(pid);
      const { nonce, at } = push(i);
      ackMs.push((await settled(nonce, at)).at - at);
      await sleep(SETTLE_MS);
      cpuMs.push((threadsCpuNs(pid) - cpu0 - idleNsPerMs * (performance.now() - at)) / 1e6);
    }
    const ticksMsPerUpdate = ((processTicks(pid) - ticksBefore) * 10) / half;
    for (let i = half + 1; i <= added.length; i++) {
      const { nonce, at } = push(i);
      const acked = settled(nonce, at);
      for (;;) {
        if (await servedBy(httpPort, i - 1)) break;
        if (performance.now() - at > ACK_TIMEOUT_MS) throw new Error(`new-${i - 1} never served`);
        await sleep(1);
      }
      servedMs.push(performance.now() - at);
      ackMs.push((await acked).at - at);
      await sleep(50);
    }
    if (ads.nacks.length > 0) throw new Error(`NACKs: ${ads.nacks.map((n) => n.error).join("; ")}`);
    const one = added[0]!;
    return {
      variant: "scoped (SRDS: 1,000 scopes × 1-host RouteConfiguration)",
      api,
      hosts: 1000,
      rdsKiB: (one.rc.bytes.length + one.scope.bytes.length) / 1024,
      ackMs,
      servedMs,
      cpuMs,
      unchangedCpuMs: [],
      deprecatedPerPush: NaN,
      ticksMsPerUpdate,
      envoyUpdate: "n/a",
    };
  } finally {
    await envoy?.stop();
    await ads.close();
  }
}

function option(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

async function main(): Promise<void> {
  const pushes = Number(option("pushes") ?? 30);
  const apis = (option("api") ?? "sotw").split(",") as Api[];
  const names = option("variants")?.split(",");
  const selected = names ? names.map((name) => variants.find((v) => v.name === name) ?? fail(`unknown variant ${name}`)) : variants;
  console.log(`load average at start: ${load()}; ${pushes} pushes per pass, 2 passes per variant; Envoy --concurrency 1`);
  const codec = new ProtoCodec();
  const rows: Row[] = [];
  if (process.argv.includes("--scoped")) rows.push(await runScoped(pushes, codec));
  else for (const api of apis) rows.push(...(await runApi(api, selected, pushes, codec)));
  console.log(
    "\n| variant | API | vhosts | RDS size | push → ACK p50 / p95 / p99 | push → served p50 / p95 / p99 | Envoy CPU per update p50 / p95 (schedstat) | of which decode + validate (unchanged re-push, p50) | utime+stime per update (mean) | Envoy update_duration p50 / p95 / p99 (samples) | deprecated fields per push |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const row of rows) {
    console.log(
      `| ${row.variant} | ${row.api === "sotw" ? "SotW" : "Delta"} | ${row.hosts} | ${row.rdsKiB < 100 ? `${row.rdsKiB.toFixed(1)} KiB` : `${(row.rdsKiB / 1024).toFixed(2)} MiB`} | ${p3(row.ackMs)} ms | ${p3(row.servedMs)} ms | ` +
        `${percentile(row.cpuMs, 50).toFixed(1)} / ${percentile(row.cpuMs, 95).toFixed(1)} ms | ${row.unchangedCpuMs.length > 0 ? `${percentile(row.unchangedCpuMs, 50).toFixed(1)} ms` : "n/a"} | ${row.ticksMsPerUpdate.toFixed(0)} ms | ${row.envoyUpdate}${row.envoyUpdate === "n/a" ? "" : " ms"} | ${Number.isNaN(row.deprecatedPerPush) ? "n/a" : row.deprecatedPerPush.toFixed(0)} |`,
    );
  }
  console.log(`\nload average at end: ${load()}`);
}

function fail(message: string): never {
  throw new Error(message);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
