/**
 * ADS benchmark (run on purpose, not a test; figures in docs/xds.md):
 *
 *   npx tsx bench/ads.ts encode          # JSON → protobuf of the 1,000-VirtualService config
 *   npx tsx bench/ads.ts                 # everything, SotW and Delta
 *   npx tsx bench/ads.ts all 50          # 50 route changes instead of 200
 *   npx tsx bench/ads.ts fanout 100      # 100 ADS clients of our own (auto-ACK) on one proxy
 *
 * - encode: compile 1,000 VirtualServices (× 5 routes, as bench/compile.ts) and encode every
 *   resource to protobuf (src/xds/codec.ts); median of 5 runs, bytes.
 * - full push: a fresh Envoy connects over ADS (SotW) to a store already holding the config;
 *   time from Envoy's spawn to every type ACKed, and from the first request to the last ACK.
 * - route latency: with the 1,000 VirtualServices loaded, 200 times: add a VirtualService with a
 *   directResponse route under a new host, setSnapshot, and poll Envoy with that Host until it
 *   answers; p50/p95/p99 of setSnapshot → first good answer (includes encode + push + Envoy's
 *   RDS update + the poll interval of 1 ms).
 * - fan-out: N scripted SotW clients (grpc-js, ACK everything; correctness is proven with Envoy
 *   in test/integration/xds) subscribed to one proxy's 1,000-VirtualService config; one route
 *   change; time until all N have ACKed it; server heap per connection.
 */
import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import { compileGateway } from "../src/compile/compile.js";
import { envoyJson } from "../src/envoy/cluster.js";
import type { EnvoyResources } from "../src/envoy/resources.js";
import type { Gateway, VirtualService } from "../src/api/index.js";
import type { EndpointSlice, Service } from "../src/model/kube.js";
import type { GatewayProxy } from "../src/model/proxy.js";
import { buildSnapshot } from "../src/model/snapshot.js";
import type { SnapshotInputs } from "../src/model/snapshot.js";
import { adsBootstrap } from "../src/xds/bootstrap.js";
import { ProtoCodec } from "../src/xds/codec.js";
import { XdsServer } from "../src/xds/server.js";
import { SnapshotStore } from "../src/xds/store.js";
import { startEnvoy } from "../test/support/envoy.js";
import type { Envoy } from "../test/support/envoy.js";
import { freePort, httpRequest } from "../test/support/net.js";

export const benchNamespace = "bench";

export function generateInputs(size: number, extraVirtualServices: VirtualService[] = []): SnapshotInputs {
  const namespace = benchNamespace;
  const gateway: Gateway = {
    apiVersion: "networking.istio.io/v1",
    kind: "Gateway",
    metadata: { name: "bench-gateway", namespace },
    spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }] },
  };
  const virtualServices: VirtualService[] = [...extraVirtualServices];
  const services: Service[] = [];
  const endpointSlices: EndpointSlice[] = [];
  for (let i = 0; i < size; i++) {
    const name = `svc-${i}`;
    services.push({ metadata: { name, namespace }, spec: { ports: [{ name: "http", port: 80, targetPort: 8080 }] } });
    endpointSlices.push({
      metadata: { name: `${name}-a`, namespace, labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080 }],
      endpoints: [
        { addresses: [`127.1.${(i >> 8) & 255}.${i & 255}`], conditions: { ready: true } },
        { addresses: [`127.2.${(i >> 8) & 255}.${i & 255}`], conditions: { ready: true } },
      ],
    });
    const http = Array.from({ length: 5 }, (_, r) =>
      r === 4
        ? { route: [{ destination: { host: name, port: { number: 80 } } }], timeout: "5s" }
        : {
            match: [{ uri: { prefix: `/api/v${r}` }, headers: { "x-tenant": { exact: `t${r}` } } }],
            route: [{ destination: { host: name, port: { number: 80 } } }],
            retries: { attempts: 3, retryOn: "5xx" },
          },
    );
    virtualServices.push({
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name, namespace },
      spec: { hosts: [`${name}.bench.example.com`], gateways: ["bench-gateway"], http },
    });
  }
  return { gateways: [gateway], virtualServices, services, endpointSlices, destinationRules: [] };
}

export function compileBench(size: number, proxy: GatewayProxy, extra: VirtualService[] = []): EnvoyResources {
  return compileGateway(buildSnapshot(generateInputs(size, extra)), proxy).resources;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

function measureEncode(resources: EnvoyResources): { ms: number; bytes: number; jsonBytes: number; resources: number } {
  const codec = new ProtoCodec();
  const all = [...resources.listeners, ...resources.routes, ...resources.clusters, ...resources.endpoints, ...resources.secrets];
  const times: number[] = [];
  let bytes = 0;
  for (let run = 0; run < 6; run++) {
    const t0 = performance.now();
    bytes = 0;
    for (const resource of all) bytes += codec.encodeAny(envoyJson(resource)).value.length;
    if (run > 0) times.push(performance.now() - t0);
  }
  const jsonBytes = all.reduce((sum, resource) => sum + JSON.stringify(envoyJson(resource)).length, 0);
  return { ms: median(times), bytes, jsonBytes, resources: all.length };
}

const proxyKey = "istio-system/istio-ingressgateway";

/** Listeners on 127.0.0.1 instead of 0.0.0.0 (the bench stays on loopback). */
function loopback(resources: EnvoyResources): EnvoyResources {
  return { ...resources, listeners: JSON.parse(JSON.stringify(resources.listeners).replaceAll('"address":"0.0.0.0"', '"address":"127.0.0.1"')) as EnvoyResources["listeners"] };
}

function directResponseVs(i: number): VirtualService {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: `new-${i}`, namespace: benchNamespace },
    spec: { hosts: [`new-${i}.bench.example.com`], gateways: ["bench-gateway"], http: [{ directResponse: { status: 200, body: { string: `new-${i}` } } }] },
  };
}

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
};

function allAcked(server: XdsServer): boolean {
  const connection = server.syncStatus().proxies.find((p) => p.proxy === proxyKey);
  if (!connection) return false;
  const types = Object.values(connection.types).filter((t) => t.subscribed);
  return types.length >= 4 && types.every((t) => t.status === "SYNCED");
}

async function until(probe: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

interface AdsFigures {
  api: string;
  spawnToSyncedMs: number;
  firstPushToLastAckMs: number;
  latencies: number[];
  setSnapshotMs: number[];
  ackMs: number[];
}

async function measureAds(apiType: "GRPC" | "DELTA_GRPC", changes: number): Promise<AdsFigures> {
  const httpPort = await freePort();
  const proxy: GatewayProxy = { name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway" }, servicePorts: [{ port: 80, targetPort: httpPort }] };
  const store = new SnapshotStore();
  const server = new XdsServer({ store, authentication: "none" });
  const bound = await server.listen("127.0.0.1:0");
  const xdsPort = Number(bound.slice(bound.lastIndexOf(":") + 1));
  store.setSnapshot(proxyKey, loopback(compileBench(1000, proxy)));
  let envoy: Envoy | undefined;
  try {
    const spawned = performance.now();
    envoy = await startEnvoy({
      bootstrap: adsBootstrap({ xdsHost: "127.0.0.1", xdsPort, apiType, adminPort: 0, namespace: "istio-system", workloadName: "istio-ingressgateway" }),
      name: `bench-ads-${apiType}`,
      readyTimeoutMs: 120_000,
    });
    await until(() => allAcked(server), 120_000, 5, "the full config ACKed");
    const spawnToSyncedMs = performance.now() - spawned;
    const pushes = server.pushLog;
    const acks = server.syncStatus().proxies.find((p) => p.proxy === proxyKey)!;
    const lastAck = Math.max(...Object.values(acks.types).filter((t) => t.lastAck).map((t) => Date.parse(t.lastAck!)));
    const firstPushToLastAckMs = lastAck - (pushes[0]?.at ?? lastAck);

    const latencies: number[] = [];
    const setSnapshotMs: number[] = [];
    const ackMs: number[] = [];
    const extra: VirtualService[] = [];
    for (let i = 0; i < changes; i++) {
      extra.push(directResponseVs(i));
      const resources = loopback(compileBench(1000, proxy, extra));
      const hostHeader = `new-${i}.bench.example.com`;
      let acked: number | undefined;
      const onAck = (event: { type: string }): void => {
        if (event.type === "RDS") acked = performance.now();
      };
      server.events.on("ack", onAck);
      const t0 = performance.now();
      store.setSnapshot(proxyKey, resources);
      setSnapshotMs.push(performance.now() - t0);
      await until(
        async () => {
          try {
            const response = await httpRequest({ url: `http://127.0.0.1:${httpPort}/`, headers: { host: hostHeader }, timeoutMs: 2000 });
            return response.status === 200 && response.body === `new-${i}`;
          } catch {
            return false;
          }
        },
        30_000,
        1,
        `${hostHeader} served`,
      );
      latencies.push(performance.now() - t0);
      await until(() => acked !== undefined, 30_000, 1, "the RDS ACK");
      server.events.off("ack", onAck);
      ackMs.push((acked ?? NaN) - t0);
    }
    return { api: apiType === "GRPC" ? "SotW" : "Delta", spawnToSyncedMs, firstPushToLastAckMs, latencies, setSnapshotMs, ackMs };
  } finally {
    await envoy?.stop();
    await server.close();
  }
}

/** A minimal SotW client that ACKs every response: subscribes to everything the proxy has. */
function loadClient(client: grpc.Client, store: SnapshotStore, id: number): { close(): void } {
  const request = store.codec.type("envoy.service.discovery.v3.DiscoveryRequest");
  const response = store.codec.type("envoy.service.discovery.v3.DiscoveryResponse");
  const call = client.makeBidiStreamRequest(
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
    (bytes: Uint8Array) => Buffer.from(bytes),
    (bytes: Buffer) => bytes,
  );
  const snapshot = store.getSnapshot(proxyKey)!;
  const names = (type: "RDS" | "EDS"): string[] => [...snapshot.types[type].keys()];
  const send = (message: Record<string, unknown>): void => void call.write(request.encode(request.fromObject(message)).finish());
  const node = { id: `router~127.0.0.1~istio-ingressgateway-bench-${id}.istio-system~istio-system.svc.cluster.local`, metadata: {} };
  call.on("data", (bytes: Buffer) => {
    const decoded = response.decode(bytes) as unknown as { version_info: string; nonce: string; type_url: string };
    const type = decoded.type_url;
    const resourceNames = type.endsWith("RouteConfiguration") ? names("RDS") : type.endsWith("ClusterLoadAssignment") ? names("EDS") : [];
    send({ type_url: type, version_info: decoded.version_info, response_nonce: decoded.nonce, resource_names: resourceNames });
  });
  call.on("error", () => undefined);
  send({ node, type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster" });
  send({ type_url: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment", resource_names: names("EDS") });
  send({ type_url: "type.googleapis.com/envoy.config.listener.v3.Listener" });
  send({ type_url: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration", resource_names: names("RDS") });
  return { close: () => call.end() };
}

async function measureFanout(clients: number): Promise<void> {
  const proxy: GatewayProxy = { name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway" }, servicePorts: [{ port: 80, targetPort: 8080 }] };
  const store = new SnapshotStore();
  const server = new XdsServer({ store, authentication: "none", pushLogSize: 100 });
  const bound = await server.listen("127.0.0.1:0");
  store.setSnapshot(proxyKey, compileBench(1000, proxy));
  const next = compileBench(1000, proxy, [directResponseVs(0)]);
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const grpcClients: grpc.Client[] = [];
  const streams: Array<{ close(): void }> = [];
  const synced = (): number => server.syncStatus().proxies.filter((p) => p.proxy === proxyKey && ["CDS", "EDS", "LDS", "RDS"].every((t) => p.types[t]?.status === "SYNCED")).length;
  try {
    const connectStarted = performance.now();
    for (let i = 0; i < clients; i++) {
      // One HTTP/2 connection per client, as separate Envoys would have.
      const client = new grpc.Client(bound, grpc.credentials.createInsecure(), { "grpc.max_receive_message_length": -1, "grpc.use_local_subchannel_pool": 1 });
      grpcClients.push(client);
      streams.push(loadClient(client, store, i));
    }
    await until(() => synced() === clients, 300_000, 10, `${clients} clients synced`);
    const connectMs = performance.now() - connectStarted;
    global.gc?.();
    const heapPerConnection = (process.memoryUsage().heapUsed - heapBefore) / clients;
    const t0 = performance.now();
    store.setSnapshot(proxyKey, next);
    const setMs = performance.now() - t0;
    await until(() => synced() === clients, 300_000, 2, `${clients} clients ACKed the change`);
    const allAckedMs = performance.now() - t0;
    console.log(`| fan-out: ${clients} scripted clients, full 1,000-VS config to all, connect → all ACKed | ${connectMs.toFixed(0)} ms |`);
    console.log(`| fan-out: one route change → all ${clients} ACKed (setSnapshot ${setMs.toFixed(0)} ms of it) | ${allAckedMs.toFixed(0)} ms |`);
    console.log(`| fan-out: server heap per connection (after the full push; shared resource bytes) | ${(heapPerConnection / 1024).toFixed(0)} KiB |`);
  } finally {
    for (const stream of streams) stream.close();
    for (const client of grpcClients) client.close();
    await server.close();
  }
}

async function main(): Promise<void> {
  const mode = process.argv[2] ?? "all";
  const changes = Number(process.argv[3] ?? 200);
  const proxy: GatewayProxy = { name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway" }, servicePorts: [{ port: 80, targetPort: 8080 }] };
  const resources = compileBench(1000, proxy);
  const encode = measureEncode(resources);
  console.log("| measure | value |\n|---|---|");
  console.log(`| encode 1,000 VirtualServices (${encode.resources} resources) JSON → protobuf, median of 5 | ${encode.ms.toFixed(1)} ms |`);
  console.log(`| protobuf bytes / JSON bytes | ${(encode.bytes / 1024).toFixed(0)} KiB / ${(encode.jsonBytes / 1024).toFixed(0)} KiB |`);
  if (mode === "encode") return;
  if (mode === "fanout") {
    await measureFanout(Number(process.argv[3] ?? 100));
    return;
  }
  for (const apiType of ["GRPC", "DELTA_GRPC"] as const) {
    const figures = await measureAds(apiType, changes);
    console.log(`| ${figures.api}: fresh Envoy, 1,000 VirtualServices, spawn → every type ACKed | ${figures.spawnToSyncedMs.toFixed(0)} ms |`);
    console.log(`| ${figures.api}: first push → last ACK | ${figures.firstPushToLastAckMs.toFixed(0)} ms |`);
    const l = figures.latencies;
    console.log(
      `| ${figures.api}: setSnapshot → new directResponse route served (${l.length} changes, 1,000 VS loaded) p50 / p95 / p99 | ` +
        `${percentile(l, 50).toFixed(1)} / ${percentile(l, 95).toFixed(1)} / ${percentile(l, 99).toFixed(1)} ms |`,
    );
    const p3 = (values: number[]): string => [50, 95, 99].map((p) => percentile(values, p).toFixed(1)).join(" / ");
    console.log(`| ${figures.api}: of which setSnapshot (hash + encode the changed pieces + push), p50 / p95 / p99 | ${p3(figures.setSnapshotMs)} ms |`);
    console.log(`| ${figures.api}: setSnapshot → RDS ACKed by Envoy, p50 / p95 / p99 | ${p3(figures.ackMs)} ms |`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
