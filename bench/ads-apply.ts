/**
 * apply → Envoy serving, end to end (issue 11's Bench, first item; run on purpose, not a test):
 *
 *   npx tsx bench/ads-apply.ts               # ads and agent modes, 1,000 VirtualServices, 200 changes
 *   npx tsx bench/ads-apply.ts ads 50        # ads mode only, 50 changes
 *   npx tsx bench/ads-apply.ts agent 200 1000
 *
 * The bench's kube-apiserver + etcd (test/support/control-plane.ts); the shipped gateway
 * Deployment; N VirtualServices × 5 routes over N headless Services (bench/ads.ts's shape)
 * applied first; the operator in this process (the `Operator` and `startXds` that `pilotfish
 * operator` wires, with its defaults: debounce 100 ms / 500 ms, concurrency 2), serving ADS
 * plaintext on loopback without authentication; a real Envoy, either on the ADS bootstrap (`ads`
 * mode) or on the agent bootstrap with `pilotfish agent` as its own process between Envoy and the
 * operator (`agent` mode). Then, `changes` times: `kubectl apply` of a new VirtualService with a
 * directResponse route under a new host, and Envoy polled with that Host every 1 ms until it
 * answers; 250 ms of quiet before the next change (each change is "the first after a quiet
 * period", as a person applying a change sees it).
 *
 * The latency is measured from kubectl's exit to the first good answer, and split, from the
 * operator's own events in this process: informer event (the operator's debug line), compile
 * done (its "compiled in" line, which also gives the compile time, so the debounce wait is what
 * lies between), setSnapshot (hash, encode, push: the ADS store is synchronous), the server's RDS
 * ACK (Envoy, or the agent relaying Envoy's ACK, has applied the route configuration), and the
 * first good answer (the poll's own delay is in the last column).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { dump } from "js-yaml";
import { Operator } from "../src/controllers/operator.js";
import type { Logger } from "../src/controllers/log.js";
import { OperatorMetrics } from "../src/controllers/metrics.js";
import { fileLayout } from "../src/envoy/layout.js";
import type { EnvoyResources } from "../src/envoy/resources.js";
import { gatewayBootstrap } from "../src/publish/bootstrap.js";
import { adsBootstrap } from "../src/xds/bootstrap.js";
import { startXds } from "../src/xds/index.js";
import type { XdsServing } from "../src/xds/index.js";
import { startControlPlane } from "../test/support/control-plane.js";
import type { ControlPlane } from "../test/support/control-plane.js";
import { installCrds } from "../test/support/crds.js";
import { startEnvoy } from "../test/support/envoy.js";
import type { Envoy } from "../test/support/envoy.js";
import { freePort, httpRequest, waitFor } from "../test/support/net.js";
import { repoRoot } from "../test/support/paths.js";
import { spawnManaged, stopManaged } from "../test/support/processes.js";
import type { ManagedProcess } from "../test/support/processes.js";

const namespace = "bench";
const proxyKey = "istio-system/istio-ingressgateway";

type Mode = "ads" | "agent";

/** One timestamped event of the operator or the xDS server (performance.now()). */
interface Trace {
  at: number;
  what: "informer" | "compiled" | "set-start" | "set-end" | "push" | "ack";
  detail: string;
  compileMs?: number;
}

function percentile(values: number[], p: number): number {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  return sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

const p3 = (values: number[]): string => [50, 95, 99].map((p) => percentile(values, p).toFixed(1)).join(" / ");

function benchObjects(size: number): unknown[] {
  const objects: unknown[] = [
    {
      apiVersion: "networking.istio.io/v1",
      kind: "Gateway",
      metadata: { name: "bench-gateway", namespace },
      spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }] },
    },
  ];
  for (let i = 0; i < size; i++) {
    const name = `svc-${i}`;
    objects.push({ apiVersion: "v1", kind: "Service", metadata: { name, namespace }, spec: { clusterIP: "None", ports: [{ name: "http", port: 80, targetPort: 8080 }] } });
    const http = Array.from({ length: 5 }, (_, r) =>
      r === 4
        ? { route: [{ destination: { host: name, port: { number: 80 } } }], timeout: "5s" }
        : {
            match: [{ uri: { prefix: `/api/v${r}` }, headers: { "x-tenant": { exact: `t${r}` } } }],
            route: [{ destination: { host: name, port: { number: 80 } } }],
            retries: { attempts: 3, retryOn: "5xx" },
          },
    );
    objects.push({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name, namespace }, spec: { hosts: [`${name}.bench.example.com`], gateways: ["bench-gateway"], http } });
  }
  return objects;
}

function newVirtualService(i: number): unknown {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: `new-${i}`, namespace },
    spec: { hosts: [`new-${i}.bench.example.com`], gateways: ["bench-gateway"], http: [{ directResponse: { status: 200, body: { string: `new-${i}` } } }] },
  };
}

/** The operator's Logger, keeping the lines the bench splits the latency with. */
function tracingLogger(traces: Trace[], verbose: boolean): Logger {
  const line = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    const at = performance.now();
    if (message.includes(" VirtualService bench/new-")) traces.push({ at, what: "informer", detail: message });
    else if (message.startsWith("compiled in ")) traces.push({ at, what: "compiled", detail: message, compileMs: Number(fields?.compileMs) });
    if (verbose || level === "error" || level === "warn") process.stderr.write(`${level} ${message}\n`);
  };
  return { error: line("error"), warn: line("warn"), info: line("info"), debug: line("debug") };
}

interface World {
  controlPlane: ControlPlane;
  work: string;
  httpPort: number;
  xds: XdsServing;
  xdsPort: number;
  operator: Operator;
  traces: Trace[];
  latest(): EnvoyResources | undefined;
}

async function startWorld(size: number): Promise<World> {
  const work = mkdtempSync(join(tmpdir(), "pilotfish-bench-ads-apply-"));
  const controlPlane = await startControlPlane();
  await installCrds(controlPlane);
  await controlPlane.kubectlOk(["create", "namespace", namespace]);
  await controlPlane.kubectl(["create", "namespace", "istio-system"]);
  await controlPlane.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway", "deployment.yaml")]);
  const httpPort = await freePort();
  await controlPlane.kubectlOk(["apply", "-f", "-"], {
    input: dump({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "istio-ingressgateway", namespace: "istio-system" },
      spec: { selector: { istio: "ingressgateway" }, ports: [{ name: "http2", port: 80, targetPort: httpPort }] },
    }),
  });
  const objects = benchObjects(size);
  const applyStarted = performance.now();
  for (let i = 0; i < objects.length; i += 500) {
    await controlPlane.kubectlOk(["apply", "--server-side", "-f", "-"], { input: objects.slice(i, i + 500).map((object) => dump(object)).join("---\n") });
  }
  process.stderr.write(`applied ${objects.length} objects in ${((performance.now() - applyStarted) / 1000).toFixed(1)} s\n`);

  const traces: Trace[] = [];
  const logger = tracingLogger(traces, process.env.BENCH_VERBOSE === "1");
  const xds = await startXds({ address: "127.0.0.1:0", plaintext: true, authentication: "none", debugAddress: "off", logger });
  const xdsPort = Number(xds.address.slice(xds.address.lastIndexOf(":") + 1));
  xds.server.events.on("push", (record: { type: string; proxy?: string }) => {
    if (record.proxy === proxyKey) traces.push({ at: performance.now(), what: "push", detail: record.type });
  });
  xds.server.events.on("ack", (ack: { type: string; proxy?: string }) => {
    if (ack.proxy === proxyKey) traces.push({ at: performance.now(), what: "ack", detail: ack.type });
  });
  let latest: EnvoyResources | undefined;
  const operator = new Operator({
    kubeConfig: controlPlane.kubeConfig(),
    proxyConfigDir: "/etc/pilotfish/proxy",
    proxyAdminPort: 15000,
    proxyStatusPort: 15021,
    gatewayMode: "ads",
    xdsProxyAddress: `127.0.0.1:${xdsPort}`,
    maxFileSubscriptions: 32,
    debounceMs: Number(process.env.BENCH_DEBOUNCE ?? 100),
    debounceMaxMs: 500,
    concurrency: 2,
    logger,
    metrics: new OperatorMetrics(),
    onCompiled: (key, resources) => {
      if (key !== proxyKey) return xds.onCompiled(key, resources);
      traces.push({ at: performance.now(), what: "set-start", detail: "" });
      xds.onCompiled(key, resources);
      traces.push({ at: performance.now(), what: "set-end", detail: "" });
      latest = resources;
    },
    xdsRejections: (key) => xds.server.rejections(key),
    sidecars: false,
  });
  const started = performance.now();
  operator.start();
  const vhosts = (): number => latest?.routes.reduce((sum, route) => sum + ((route as { virtual_hosts?: unknown[] }).virtual_hosts?.length ?? 0), 0) ?? 0;
  await waitFor(() => vhosts() >= size, { timeoutMs: 600_000, intervalMs: 50, what: `${size} virtual hosts compiled` });
  await operator.drained();
  process.stderr.write(`operator start → ${vhosts()} virtual hosts compiled and stored in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return { controlPlane, work, httpPort, xds, xdsPort, operator, traces, latest: () => latest };
}

async function stopWorld(world: World): Promise<void> {
  await world.operator.stop();
  await world.xds.close();
  await world.controlPlane.stop();
  rmSync(world.work, { recursive: true, force: true });
}

interface Sample {
  total: number;
  /** The operator and Envoy only: the watch event → served. */
  fromInformer: number;
  informer: number;
  debounce: number;
  compile: number;
  setSnapshot: number;
  envoy: number;
  served: number;
}

async function runMode(world: World, mode: Mode, changes: number, offset: number): Promise<Sample[]> {
  let envoy: Envoy | undefined;
  let agent: ManagedProcess | undefined;
  const dir = join(world.work, mode);
  mkdirSync(dir, { recursive: true });
  try {
    const spawned = performance.now();
    if (mode === "ads") {
      envoy = await startEnvoy({
        bootstrap: adsBootstrap({ xdsHost: "127.0.0.1", xdsPort: world.xdsPort, apiType: "GRPC", adminPort: 0, namespace: "istio-system", workloadName: "istio-ingressgateway" }),
        name: "bench-ads-apply",
        readyTimeoutMs: 300_000,
      });
    } else {
      // The agent's durable record: the published file layout of the current config.
      const configDir = join(dir, "config");
      mkdirSync(configDir);
      for (const file of fileLayout(world.latest()!, configDir)) writeFileSync(join(configDir, file.name), file.content);
      const socket = join(dir, "agent.sock");
      agent = spawnManaged(
        process.execPath,
        ["--import", "tsx", join(repoRoot, "src", "cli", "main.ts"), "agent", "--listen", socket, "--config-dir", configDir, "--upstream", `127.0.0.1:${world.xdsPort}`, "--upstream-plaintext",
          "--namespace", "istio-system", "--workload-name", "istio-ingressgateway", "--pod-name", "istio-ingressgateway-5d8f7c9b4-x2kqv"],
        { name: "bench-agent", cwd: repoRoot },
      );
      await waitFor(() => agent!.output.text().includes("serving") || undefined, { timeoutMs: 120_000, intervalMs: 100, what: "the agent listening" }).catch(() => undefined);
      envoy = await startEnvoy({
        bootstrap: gatewayBootstrap({ mode: "agent", agentSocket: socket, configDir, adminPort: await freePort(), statusPort: await freePort(), proxyName: "istio-ingressgateway", proxyNamespace: "istio-system" }),
        name: "bench-agent-apply",
        readyTimeoutMs: 300_000,
      });
    }
    await waitFor(
      () => {
        const streams = world.xds.server.syncStatus().proxies.filter((p) => p.proxy === proxyKey);
        return streams.length === 1 && ["CDS", "LDS", "RDS"].every((t) => streams[0]!.types[t]?.status === "SYNCED");
      },
      { timeoutMs: 300_000, intervalMs: 20, what: "the proxy SYNCED" },
    );
    process.stderr.write(`${mode}: Envoy spawn → SYNCED in ${((performance.now() - spawned) / 1000).toFixed(1)} s\n`);
    const samples: Sample[] = [];
    const file = join(dir, "vs.yaml");
    for (let n = 0; n < changes; n++) {
      const i = offset + n;
      writeFileSync(file, dump(newVirtualService(i)));
      await sleep(250);
      const from = world.traces.length;
      await world.controlPlane.kubectlOk(["apply", "-f", file]);
      const exited = performance.now();
      await waitFor(
        async () => {
          try {
            const response = await httpRequest({ url: `http://127.0.0.1:${world.httpPort}/`, headers: { host: `new-${i}.bench.example.com` }, timeoutMs: 2000 });
            return response.status === 200 && response.body === `new-${i}`;
          } catch {
            return false;
          }
        },
        { timeoutMs: 60_000, intervalMs: 1, what: `new-${i} served` },
      );
      const served = performance.now();
      const events = world.traces.slice(from);
      const first = (what: Trace["what"], after = -Infinity, detail?: string): Trace | undefined =>
        events.find((event) => event.what === what && event.at >= after && (detail === undefined || event.detail === detail));
      const informer = first("informer");
      const compiled = first("compiled", informer?.at);
      const setStart = first("set-start", compiled?.at);
      const setEnd = first("set-end", setStart?.at);
      const ack = first("ack", setEnd?.at, "RDS");
      const compileStart = compiled ? compiled.at - (compiled.compileMs ?? 0) : NaN;
      samples.push({
        total: served - exited,
        fromInformer: served - (informer?.at ?? NaN),
        informer: (informer?.at ?? NaN) - exited,
        debounce: compileStart - (informer?.at ?? NaN),
        compile: compiled?.compileMs ?? NaN,
        setSnapshot: (setEnd?.at ?? NaN) - (setStart?.at ?? NaN),
        envoy: (ack?.at ?? NaN) - (setEnd?.at ?? NaN),
        served: served - (ack?.at ?? NaN),
      });
    }
    return samples;
  } finally {
    await envoy?.stop();
    if (agent) await stopManaged(agent);
  }
}

function report(mode: Mode, size: number, samples: Sample[]): void {
  const column = (key: keyof Sample): number[] => samples.map((sample) => sample[key]);
  console.log(`\n${mode} mode, ${size} VirtualServices applied, ${samples.length} changes (load average ${loadavg().map((l) => l.toFixed(2)).join(" ")})\n`);
  console.log("| stage | p50 / p95 / p99 |\n|---|---|");
  console.log(`| **kubectl exit → new host served** | **${p3(column("total"))} ms** |`);
  console.log(`| informer event → new host served (the operator and Envoy alone) | ${p3(column("fromInformer"))} ms |`);
  console.log(`| kubectl exit → informer event (negative: the watch event came before kubectl's exit) | ${p3(column("informer"))} ms |`);
  console.log(`| informer → compile start (debounce, queue) | ${p3(column("debounce"))} ms |`);
  console.log(`| compile (snapshot + compileGateway) | ${p3(column("compile"))} ms |`);
  console.log(`| setSnapshot (hash, encode, push) | ${p3(column("setSnapshot"))} ms |`);
  console.log(`| push → RDS ACK at the server (Envoy's update${mode === "agent" ? ", through the agent" : ""}) | ${p3(column("envoy"))} ms |`);
  console.log(`| RDS ACK → first good answer (poll at 1 ms) | ${p3(column("served"))} ms |`);
}

async function main(): Promise<void> {
  const which = process.argv[2] ?? "all";
  const changes = Number(process.argv[3] ?? 200);
  const size = Number(process.argv[4] ?? 1000);
  const modes: Mode[] = which === "all" ? ["ads", "agent"] : [which as Mode];
  const world = await startWorld(size);
  try {
    let offset = 0;
    for (const mode of modes) {
      const samples = await runMode(world, mode, changes, offset);
      offset += changes;
      report(mode, size, samples);
    }
  } finally {
    await stopWorld(world);
  }
}

await main();
