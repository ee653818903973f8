/**
 * ADS benchmark (run on purpose, not a test; figures in docs/xds.md):
 *
 *   npx tsx bench/ads.ts encode          # JSON → protobuf of the 1,000-VirtualService config
 *   npx tsx bench/ads.ts                 # everything, SotW and Delta
 *   npx tsx bench/ads.ts all 50          # 50 route changes instead of 200
 *   npx tsx bench/ads.ts fanout 100      # 100 ADS clients of our own (auto-ACK, own process) on one proxy
 *   npx tsx bench/ads.ts sotw 20 10000   # 10,000 VirtualServices, SotW only, 20 changes
 *   npx tsx bench/ads.ts recompile 0 1000  # CPU time of a one-VirtualService recompile + setSnapshot
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
 *   in test/integration/xds) in their own process (bench/ads-load-client.ts), subscribed to one
 *   proxy's 1,000-VirtualService config; one route change; time until all N have ACKed it; the
 *   server's CPU for it and its memory per connection.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
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
import { spawnManaged, stopManaged } from "../test/support/processes.js";

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

/** A VirtualService for a new host answered by a directResponse route (needs no upstream). */
export function directResponseVs(i: number): VirtualService {
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

async function measureAds(apiType: "GRPC" | "DELTA_GRPC", changes: number, size: number): Promise<AdsFigures> {
  const httpPort = await freePort();
  const proxy: GatewayProxy = { name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway" }, servicePorts: [{ port: 80, targetPort: httpPort }] };
  const store = new SnapshotStore();
  const server = new XdsServer({ store, authentication: "none" });
  const bound = await server.listen("127.0.0.1:0");
  const xdsPort = Number(bound.slice(bound.lastIndexOf(":") + 1));
  store.setSnapshot(proxyKey, loopback(compileBench(size, proxy)));
  let envoy: Envoy | undefined;
  try {
    const spawned = performance.now();
    envoy = await startEnvoy({
      bootstrap: adsBootstrap({ xdsHost: "127.0.0.1", xdsPort, apiType, adminPort: 0, namespace: "istio-system", workloadName: "istio-ingressgateway" }),
      name: `bench-ads-${apiType}`,
      // 10,000 VirtualServices on a loaded machine: Envoy is LIVE only once every listener warmed.
      readyTimeoutMs: 900_000,
    });
    await until(() => allAcked(server), 900_000, 5, "the full config ACKed");
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
      const resources = loopback(compileBench(size, proxy, extra));
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

/** The server process's resident memory (VmRSS), MiB. */
function rssMiB(): number {
  const status = readFileSync("/proc/self/status", "utf8");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) / 1024;
}

/**
 * N scripted clients (bench/ads-load-client.ts, its own process) on one proxy's config of `size`
 * VirtualServices; time until all have the full config, then one route change → all ACKed; the
 * server's heap and RSS per connection and its CPU for the change.
 */
async function measureFanout(clients: number, size: number): Promise<void> {
  const proxy: GatewayProxy = { name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway" }, servicePorts: [{ port: 80, targetPort: 8080 }] };
  const store = new SnapshotStore();
  const server = new XdsServer({ store, authentication: "none", pushLogSize: 100 });
  const bound = await server.listen("127.0.0.1:0");
  store.setSnapshot(proxyKey, compileBench(size, proxy));
  const next = compileBench(size, proxy, [directResponseVs(0)]);
  const snapshot = store.getSnapshot(proxyKey)!;
  const dir = mkdtempSync(join(tmpdir(), "pilotfish-bench-fanout-"));
  const namesFile = join(dir, "names.json");
  writeFileSync(namesFile, JSON.stringify({ RDS: [...snapshot.types.RDS.keys()], EDS: [...snapshot.types.EDS.keys()] }));
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const rssBefore = rssMiB();
  const synced = (): number => server.syncStatus().proxies.filter((p) => p.proxy === proxyKey && ["CDS", "EDS", "LDS", "RDS"].every((t) => p.types[t]?.status === "SYNCED")).length;
  const load = spawnManaged(process.execPath, ["--import", "tsx", join(import.meta.dirname, "ads-load-client.ts"), bound, String(clients), namesFile], { name: "ads-load-client", cwd: join(import.meta.dirname, "..") });
  try {
    const connectStarted = performance.now();
    await until(() => synced() === clients || load.exitStatus !== undefined, 600_000, 10, `${clients} clients synced`);
    if (load.exitStatus) throw new Error(`the load client exited: ${load.output.text()}`);
    const connectMs = performance.now() - connectStarted;
    global.gc?.();
    const heapPerConnection = (process.memoryUsage().heapUsed - heapBefore) / clients;
    const rssPerConnection = (rssMiB() - rssBefore) / clients;
    const cpuBefore = process.cpuUsage();
    const t0 = performance.now();
    store.setSnapshot(proxyKey, next);
    const setMs = performance.now() - t0;
    await until(() => synced() === clients, 600_000, 2, `${clients} clients ACKed the change`);
    const allAckedMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpuBefore);
    const rdsBytes = [...store.getSnapshot(proxyKey)!.types.RDS.values()].reduce((sum, resource) => sum + resource.bytes.length, 0);
    console.log(`| fan-out: ${clients} clients (own process), ${size} VirtualServices, connect → all have the full config ACKed | ${connectMs.toFixed(0)} ms |`);
    console.log(`| fan-out: one route change → all ${clients} ACKed (setSnapshot ${setMs.toFixed(0)} ms of it; RDS ${(rdsBytes / 1024).toFixed(0)} KiB to each) | ${allAckedMs.toFixed(0)} ms |`);
    console.log(`| fan-out: server CPU for that change (user + system) | ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms |`);
    console.log(`| fan-out: server memory per connected proxy, heap / RSS (after the full push; resource bytes shared) | ${(heapPerConnection / 1024).toFixed(0)} KiB / ${(rssPerConnection * 1024).toFixed(0)} KiB |`);
  } finally {
    await stopManaged(load);
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The operator's share of a one-VirtualService change, in CPU time (robust on a loaded machine):
 * the same input objects every run (as the informers keep them) plus one new VirtualService,
 * buildSnapshot + compileGateway, then setSnapshot (hash, encode; no connection to push to).
 */
function measureRecompile(size: number): void {
  const proxy: GatewayProxy = { name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway" }, servicePorts: [{ port: 80, targetPort: 8080 }] };
  const store = new SnapshotStore();
  const inputs = generateInputs(size);
  const cpuMs = (work: () => void): number => {
    const before = process.cpuUsage();
    work();
    const used = process.cpuUsage(before);
    return (used.user + used.system) / 1000;
  };
  const compileMs: number[] = [];
  const setMs: number[] = [];
  // 5 warm-up runs (JIT, and the compiler's memos filled by the first), then 20 measured.
  for (let run = 0; run < 25; run++) {
    inputs.virtualServices = [...(inputs.virtualServices ?? []), directResponseVs(run)];
    let resources: EnvoyResources | undefined;
    const compiled = cpuMs(() => void (resources = compileGateway(buildSnapshot(inputs), proxy).resources));
    const stored = cpuMs(() => void store.setSnapshot(proxyKey, resources!));
    if (run < 5) continue;
    compileMs.push(compiled);
    setMs.push(stored);
  }
  console.log(`| one-VirtualService change with ${size} loaded, CPU: buildSnapshot + compileGateway, median of 20 | ${median(compileMs).toFixed(0)} ms |`);
  console.log(`| one-VirtualService change with ${size} loaded, CPU: setSnapshot (hash, encode the new pieces), median of 20 | ${median(setMs).toFixed(0)} ms |`);
}

async function main(): Promise<void> {
  const mode = process.argv[2] ?? "all";
  const changes = Number(process.argv[3] ?? 200);
  const size = Number(process.argv[4] ?? 1000);
  const proxy: GatewayProxy = { name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway" }, servicePorts: [{ port: 80, targetPort: 8080 }] };
  console.log(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  console.log("| measure | value |\n|---|---|");
  if (mode === "recompile") {
    measureRecompile(size);
    return;
  }
  if (mode === "fanout") {
    await measureFanout(Number(process.argv[3] ?? 100), size);
    console.log(`load average at end: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
    return;
  }
  const resources = compileBench(size, proxy);
  const encode = measureEncode(resources);
  console.log(`| encode ${size} VirtualServices (${encode.resources} resources) JSON → protobuf, median of 5 | ${encode.ms.toFixed(1)} ms |`);
  console.log(`| protobuf bytes / JSON bytes | ${(encode.bytes / 1024).toFixed(0)} KiB / ${(encode.jsonBytes / 1024).toFixed(0)} KiB |`);
  if (mode === "encode") return;
  const apis = mode === "sotw" ? (["GRPC"] as const) : mode === "delta" ? (["DELTA_GRPC"] as const) : (["GRPC", "DELTA_GRPC"] as const);
  for (const apiType of apis) {
    const figures = await measureAds(apiType, changes, size);
    console.log(`| ${figures.api}: fresh Envoy, ${size} VirtualServices, spawn → every type ACKed | ${figures.spawnToSyncedMs.toFixed(0)} ms |`);
    console.log(`| ${figures.api}: first push → last ACK | ${figures.firstPushToLastAckMs.toFixed(0)} ms |`);
    const l = figures.latencies;
    console.log(
      `| ${figures.api}: setSnapshot → new directResponse route served (${l.length} changes, ${size} VS loaded) p50 / p95 / p99 | ` +
        `${percentile(l, 50).toFixed(1)} / ${percentile(l, 95).toFixed(1)} / ${percentile(l, 99).toFixed(1)} ms |`,
    );
    const p3 = (values: number[]): string => [50, 95, 99].map((p) => percentile(values, p).toFixed(1)).join(" / ");
    console.log(`| ${figures.api}: of which setSnapshot (hash + encode the changed pieces + push), p50 / p95 / p99 | ${p3(figures.setSnapshotMs)} ms |`);
    console.log(`| ${figures.api}: setSnapshot → RDS ACKed by Envoy, p50 / p95 / p99 | ${p3(figures.ackMs)} ms |`);
  }
  console.log(`load average at end: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
