/**
 * `pilotfish agent` memory (issue 11's target: RSS < 40 MB), run on purpose:
 *
 *   npx tsx bench/agent.ts            # sizes 1 and 1000 VirtualServices
 *   PILOTFISH_AGENT_NODE_OPTIONS="--max-semi-space-size=1" npx tsx bench/agent.ts   # the agent's V8 flags
 *
 * Builds the project (tsc → dist/, as the image runs it), then per size: the compiled config
 * written as the published file layout, an upstream XdsServer in this process holding the same
 * config, `node dist/src/cli/main.js agent` as its own process, and a real Envoy on its socket.
 * Once the agent's upstream stream is SYNCED (Envoy has everything), it samples the agent's
 * VmRSS and VmHWM from /proc. Baselines in the same table: an idle `node`, and `node` with only
 * Envoy's protos loaded (what any xDS code in Node.js pays before serving anything).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileLayout } from "../src/envoy/layout.js";
import type { GatewayProxy } from "../src/model/proxy.js";
import { gatewayBootstrap } from "../src/publish/bootstrap.js";
import { XdsServer } from "../src/xds/server.js";
import { SnapshotStore } from "../src/xds/store.js";
import { startEnvoy } from "../test/support/envoy.js";
import { freePort, waitFor } from "../test/support/net.js";
import { repoRoot } from "../test/support/paths.js";
import { spawnManaged, stopManaged } from "../test/support/processes.js";
import type { ManagedProcess } from "../test/support/processes.js";
import { compileBench } from "./ads.js";

const proxyKey = "istio-system/istio-ingressgateway";

function memory(pid: number): { rssMiB: number; hwmMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rssMiB: kib("VmRSS") / 1024, hwmMiB: kib("VmHWM") / 1024 };
}

async function settled(process: ManagedProcess): Promise<{ rssMiB: number; hwmMiB: number }> {
  await new Promise((resolve) => setTimeout(resolve, 3000));
  return memory(process.child.pid!);
}

async function baseline(script: string, name: string): Promise<{ rssMiB: number; hwmMiB: number }> {
  const child = spawnManaged(process.execPath, ["--input-type=module", "-e", script], { name, cwd: repoRoot });
  const figures = await settled(child);
  await stopManaged(child);
  return figures;
}

async function measureAgent(size: number, main: string): Promise<{ rssMiB: number; hwmMiB: number; resources: number }> {
  const listenPort = await freePort();
  const proxy: GatewayProxy = { name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway" }, servicePorts: [{ port: 80, targetPort: listenPort }] };
  const compiled = compileBench(size, proxy);
  const resources = { ...compiled, listeners: JSON.parse(JSON.stringify(compiled.listeners).replaceAll('"address":"0.0.0.0"', '"address":"127.0.0.1"')) as typeof compiled.listeners };
  const dir = mkdtempSync(join(tmpdir(), "pilotfish-bench-agent-"));
  const configDir = join(dir, "config");
  execFileSync("mkdir", [configDir]);
  for (const file of fileLayout(resources, configDir)) writeFileSync(join(configDir, file.name), file.content);
  const store = new SnapshotStore();
  store.setSnapshot(proxyKey, resources);
  const server = new XdsServer({ store, authentication: "none" });
  const bound = await server.listen("127.0.0.1:0");
  const socket = join(dir, "agent.sock");
  const agent = spawnManaged(process.execPath, [main, "agent", "--listen", socket, "--config-dir", configDir, "--upstream", bound, "--upstream-plaintext", "--namespace", "istio-system", "--workload-name", "istio-ingressgateway", "--pod-name", "istio-ingressgateway-5d8f7c9b4-x2kqv"], { name: "agent", cwd: repoRoot, env: { ...process.env, NODE_OPTIONS: process.env.PILOTFISH_AGENT_NODE_OPTIONS ?? "" } });
  const bootstrap = gatewayBootstrap({ mode: "agent", agentSocket: socket, configDir, adminPort: await freePort(), statusPort: await freePort(), proxyName: "istio-ingressgateway", proxyNamespace: "istio-system" });
  const envoy = await startEnvoy({ bootstrap, name: "bench-agent-envoy", readyTimeoutMs: 120_000 });
  try {
    await waitFor(() => {
      const streams = server.syncStatus().proxies.filter((p) => p.proxy === proxyKey);
      return streams.length === 1 && Object.values(streams[0]!.types).every((t) => t.status === "SYNCED");
    }, { timeoutMs: 30_000, intervalMs: 100, what: "the agent's upstream stream SYNCED" }).catch((error: unknown) => {
      console.error(JSON.stringify(server.syncStatus(), null, 1), agent.output.text());
      throw error;
    });
    const figures = await settled(agent);
    const count = resources.listeners.length + resources.routes.length + resources.clusters.length + resources.endpoints.length + resources.secrets.length;
    return { ...figures, resources: count };
  } finally {
    await envoy.stop();
    await stopManaged(agent);
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const out = join(repoRoot, "dist");
  execFileSync(join(repoRoot, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.build.json", "--outDir", out], { cwd: repoRoot, stdio: "inherit" });
  const entry = join(out, "src", "cli", "main.js");
  const rows: Array<[string, { rssMiB: number; hwmMiB: number }]> = [];
  rows.push(["idle node (setInterval)", await baseline("setInterval(() => {}, 1000);", "idle-node")]);
  rows.push([
    "node + Envoy's protos loaded (src/xds/protos.ts)",
    await baseline(`const { ProtoCodec } = await import(${JSON.stringify(join(out, "src", "xds", "codec.js"))}); globalThis.codec = new ProtoCodec(); setInterval(() => {}, 1000);`, "protos-node"),
  ]);
  for (const size of [1, 1000]) {
    const figures = await measureAgent(size, entry);
    rows.push([`pilotfish agent, ${size} VirtualService${size === 1 ? "" : "s"} (${figures.resources} resources), Envoy connected, upstream SYNCED`, figures]);
  }
  console.log(`| process | RSS | peak RSS (VmHWM) |\n|---|---|---|`);
  for (const [name, figures] of rows) console.log(`| ${name} | ${figures.rssMiB.toFixed(1)} MiB | ${figures.hwmMiB.toFixed(1)} MiB |`);
}

await main();
