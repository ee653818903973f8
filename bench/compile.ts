/**
 * Compile benchmark (run on purpose, not a test): N VirtualServices × 5 routes over N Services,
 * all bound to one Gateway, for N = 100, 1,000 and 10,000. Each size runs in its own Node
 * process so its peak memory is its own; prints a table of compile time and peak memory.
 *
 *   npx tsx bench/compile.ts            # all sizes
 *   npx tsx bench/compile.ts 1000       # one size
 *
 * Targets (issue 4): 1,000 in < 200 ms and < 150 MB; growth linear.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { compileGateway } from "../src/compile/compile.js";
import { defaultIngressGatewayProxy } from "../src/model/proxy.js";
import type { DestinationRule, Gateway, VirtualService } from "../src/api/index.js";
import type { EndpointSlice, Service } from "../src/model/kube.js";
import { buildSnapshot } from "../src/model/snapshot.js";
import type { SnapshotInputs } from "../src/model/snapshot.js";

const routesPerVirtualService = 5;
const runsPerSize = 3;

interface Measurement {
  size: number;
  snapshotMs: number;
  compileMs: number;
  heapUsedMb: number;
  peakRssMb: number;
  listeners: number;
  routes: number;
  virtualHosts: number;
  clusters: number;
  diagnostics: number;
}

/** The inputs of one size: deterministic, so runs and sizes compare. */
function generateInputs(size: number): SnapshotInputs {
  const namespace = "bench";
  const gateway: Gateway = {
    apiVersion: "networking.istio.io/v1",
    kind: "Gateway",
    metadata: { name: "bench-gateway", namespace },
    spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }] },
  };
  const virtualServices: VirtualService[] = [];
  const services: Service[] = [];
  const endpointSlices: EndpointSlice[] = [];
  const destinationRules: DestinationRule[] = [];
  for (let i = 0; i < size; i++) {
    const name = `svc-${i}`;
    services.push({ metadata: { name, namespace }, spec: { ports: [{ name: "http", port: 80, targetPort: 8080 }] } });
    endpointSlices.push({
      metadata: { name: `${name}-a`, namespace, labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080 }],
      endpoints: [
        { addresses: [`10.${(i >> 8) & 255}.${i & 255}.1`], conditions: { ready: true } },
        { addresses: [`10.${(i >> 8) & 255}.${i & 255}.2`], conditions: { ready: true } },
      ],
    });
    if (i % 10 === 0) {
      destinationRules.push({
        apiVersion: "networking.istio.io/v1",
        kind: "DestinationRule",
        metadata: { name, namespace },
        spec: { host: name, trafficPolicy: { loadBalancer: { simple: "LEAST_REQUEST" }, connectionPool: { http: { http2MaxRequests: 100 } } } },
      });
    }
    const http = Array.from({ length: routesPerVirtualService }, (_, r) =>
      r === routesPerVirtualService - 1
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
  return { gateways: [gateway], virtualServices, services, endpointSlices, destinationRules };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** Runs in the child process: one size, several runs, prints one JSON line. */
function measure(size: number): Measurement {
  // Warm the JIT on a small input so the first timed run is not mostly compilation of our code.
  compileGateway(buildSnapshot(generateInputs(20)), defaultIngressGatewayProxy);
  const inputs = generateInputs(size);
  const snapshotTimes: number[] = [];
  const compileTimes: number[] = [];
  let result: ReturnType<typeof compileGateway> | undefined;
  let heapUsed = 0;
  for (let run = 0; run < runsPerSize; run++) {
    const t0 = performance.now();
    const snapshot = buildSnapshot(inputs);
    const t1 = performance.now();
    result = compileGateway(snapshot, defaultIngressGatewayProxy);
    const t2 = performance.now();
    snapshotTimes.push(t1 - t0);
    compileTimes.push(t2 - t1);
    heapUsed = Math.max(heapUsed, process.memoryUsage().heapUsed);
  }
  const routes = result?.resources.routes ?? [];
  const virtualHosts = routes.reduce((sum, route) => sum + (Array.isArray(route.virtual_hosts) ? route.virtual_hosts.length : 0), 0);
  return {
    size,
    snapshotMs: median(snapshotTimes),
    compileMs: median(compileTimes),
    heapUsedMb: heapUsed / 1024 / 1024,
    // maxRSS is in kilobytes: the peak resident set of this whole process.
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    listeners: result?.resources.listeners.length ?? 0,
    routes: routes.length,
    virtualHosts,
    clusters: result?.resources.clusters.length ?? 0,
    diagnostics: result?.diagnostics.length ?? 0,
  };
}

function pad(text: string | number, width: number): string {
  return String(text).padStart(width);
}

function main(): void {
  const [mode, sizeArg] = process.argv.slice(2);
  if (mode === "--child") {
    process.stdout.write(`${JSON.stringify(measure(Number(sizeArg)))}\n`);
    return;
  }
  const sizes = mode ? [Number(mode)] : [100, 1_000, 10_000];
  const self = fileURLToPath(import.meta.url);
  const rows: Measurement[] = [];
  for (const size of sizes) {
    const out = execFileSync(process.execPath, ["--import", "tsx", self, "--child", String(size)], { encoding: "utf8", maxBuffer: 1 << 20 });
    rows.push(JSON.parse(out.trim().split("\n").pop() ?? "{}") as Measurement);
  }
  console.log(`compile benchmark: N VirtualServices × ${routesPerVirtualService} routes over N Services, one Gateway (median of ${runsPerSize} runs; node ${process.version})`);
  console.log(`${pad("N", 7)} ${pad("snapshot ms", 12)} ${pad("compile ms", 11)} ${pad("ms / VS", 8)} ${pad("heap MB", 8)} ${pad("peak RSS MB", 12)} ${pad("vhosts", 7)} ${pad("clusters", 9)}`);
  for (const row of rows) {
    console.log(
      `${pad(row.size, 7)} ${pad(row.snapshotMs.toFixed(1), 12)} ${pad(row.compileMs.toFixed(1), 11)} ${pad((row.compileMs / row.size).toFixed(3), 8)} ` +
        `${pad(row.heapUsedMb.toFixed(1), 8)} ${pad(row.peakRssMb.toFixed(1), 12)} ${pad(row.virtualHosts, 7)} ${pad(row.clusters, 9)}`,
    );
    if (row.diagnostics > 0) console.log(`        (${row.diagnostics} diagnostics)`);
  }
}

main();
