/**
 * Operator benchmark (run on purpose, not a test), on the bench's real apiserver with the
 * operator as a child process under config/rbac's ServiceAccount:
 *
 * 1. apply → ConfigMap: 100 route changes, each applied with `kubectl apply` after a quiet
 *    period; time from kubectl returning to a watch (in this process) seeing the new content
 *    in -rds. p50/p95/p99.
 * 2. N VirtualServices × 5 routes over N headless Services (default N = 1,000): operator start
 *    → first publish decision (from its log timestamps: informers synced → decision, and process
 *    spawn → decision), then one VirtualService changed → next decision; published sizes against
 *    the 1 MiB limit; the operator's peak RSS (VmHWM).
 *
 *   npx tsx bench/operator.ts              # both, N = 1,000
 *   npx tsx bench/operator.ts latency      # only 1
 *   npx tsx bench/operator.ts scale 10000  # only 2, N = 10,000
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump } from "js-yaml";
import { startControlPlane } from "../test/support/control-plane.js";
import type { ControlPlane } from "../test/support/control-plane.js";
import { freePort, waitFor } from "../test/support/net.js";
import { repoRoot } from "../test/support/paths.js";
import { operatorKubeconfig } from "../test/integration/operator/support/identity.js";
import { startOperator } from "../test/integration/operator/support/operator-process.js";
import type { LogLine, OperatorProcess } from "../test/integration/operator/support/operator-process.js";
import { KubeRest } from "../src/sources/kube/rest.js";
import { Watch } from "@kubernetes/client-node";

const hostSuffix = "bench.example";

function percentile(sorted: number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? NaN;
}

function virtualService(name: string, prefixes: string[], destination: string): unknown {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name, namespace: "bench" },
    spec: {
      hosts: [`${name}.${hostSuffix}`],
      gateways: ["bench-gateway"],
      http: prefixes.map((prefix) => ({ match: [{ uri: { prefix } }], route: [{ destination: { host: destination, port: { number: 80 } } }] })),
    },
  };
}

const gateway = {
  apiVersion: "networking.istio.io/v1",
  kind: "Gateway",
  metadata: { name: "bench-gateway", namespace: "bench" },
  spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }] },
};

const headlessService = (name: string): unknown => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: "bench" },
  spec: { clusterIP: "None", ports: [{ name: "http", port: 80 }] },
});

async function prepare(): Promise<{ controlPlane: ControlPlane; work: string; kubeconfig: string }> {
  const work = mkdtempSync(join(tmpdir(), "pilotfish-bench-operator-"));
  const controlPlane = await startControlPlane();
  await controlPlane.kubectlOk(["apply", "-f", join(repoRoot, "config", "crd")]);
  await controlPlane.kubectlOk(["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]);
  const kubeconfig = await operatorKubeconfig(controlPlane, work);
  await controlPlane.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway", "deployment.yaml")]);
  await controlPlane.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway", "service.yaml")]);
  await controlPlane.kubectlOk(["create", "namespace", "bench"]);
  return { controlPlane, work, kubeconfig };
}

/**
 * The operator as shipped (`npm run build` output), not through tsx: tsx's on-the-fly
 * transpiling alone adds ~80 MB of RSS, which would drown the operator's own memory.
 */
function buildOperator(work: string): string[] {
  const out = join(work, "dist");
  execFileSync(process.execPath, [join(repoRoot, "node_modules", "typescript", "bin", "tsc"), "-p", join(repoRoot, "tsconfig.build.json"), "--outDir", out], { stdio: "inherit" });
  symlinkSync(join(repoRoot, "node_modules"), join(out, "node_modules"));
  copyFileSync(join(repoRoot, "package.json"), join(out, "package.json"));
  return [join(out, "src", "cli", "main.js")];
}

async function operatorFor(entry: string[], kubeconfig: string, extraArgs: string[] = [], waitReady = true): Promise<OperatorProcess> {
  return startOperator({
    entry,
    kubeconfig,
    proxyConfigDir: "/etc/pilotfish/proxy",
    proxyAdminPort: await freePort(),
    proxyStatusPort: await freePort(),
    extraArgs: ["--log-level", "info", ...extraArgs],
    waitReady,
  });
}

async function latency(entry: string[], changes: number): Promise<void> {
  const { controlPlane, work, kubeconfig } = await prepare();
  const operator = await operatorFor(entry, kubeconfig);
  try {
    await controlPlane.kubectlOk(["apply", "-f", "-"], { input: [gateway, headlessService("webapp"), virtualService("webapp", ["/v0"], "webapp")].map((doc) => dump(doc)).join("---\n") });
    // Watch -rds from this process; record when each prefix first appears.
    const seen = new Map<string, number>();
    let rdsWrites = 0;
    const rest = new KubeRest(controlPlane.kubeConfig());
    const initial = await rest.get("/api/v1/namespaces/istio-system/configmaps/pilotfish-istio-ingressgateway-rds");
    const watch = new Watch(controlPlane.kubeConfig());
    const controller = await watch.watch(
      "/api/v1/namespaces/istio-system/configmaps",
      { fieldSelector: "metadata.name=pilotfish-istio-ingressgateway-rds", resourceVersion: (initial?.metadata as { resourceVersion?: string } | undefined)?.resourceVersion },
      (_type: string, object: { data?: Record<string, string> }) => {
        const now = performance.now();
        rdsWrites++;
        const text = Object.values(object.data ?? {}).join("\n");
        for (const match of text.matchAll(/prefix: (\/v\d+)/g)) if (match[1] && !seen.has(match[1])) seen.set(match[1], now);
      },
      () => {},
    );
    const file = join(work, "vs.yaml");
    const samples: number[] = [];
    const fromStart: number[] = [];
    for (let i = 1; i <= changes; i++) {
      writeFileSync(file, dump(virtualService("webapp", [`/v${i}`], "webapp")));
      const started = performance.now();
      await controlPlane.kubectlOk(["apply", "-f", file]);
      const returned = performance.now();
      const at = await waitFor(() => seen.get(`/v${i}`), { timeoutMs: 10_000, intervalMs: 1, what: `/v${i} in -rds` });
      samples.push(Math.max(0, at - returned));
      fromStart.push(at - started);
      // Quiet period longer than the debounce: each change is "the first after a quiet period".
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    // A burst: `burst` changes applied back to back through the API (no kubectl start-up), the
    // debounce should coalesce them into a few writes, the last one carrying the last change.
    const burst = 50;
    const writesBefore = rdsWrites;
    const burstStarted = performance.now();
    let lastApplied = 0;
    for (let i = changes + 1; i <= changes + burst; i++) {
      await rest.apply("/apis/networking.istio.io/v1/namespaces/bench/virtualservices/webapp", virtualService("webapp", [`/v${i}`], "webapp") as Record<string, unknown>, "bench", true);
      lastApplied = performance.now();
    }
    const lastSeen = await waitFor(() => seen.get(`/v${changes + burst}`), { timeoutMs: 20_000, intervalMs: 1, what: "the burst's last change in -rds" });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    process.stdout.write(
      `burst: ${burst} changes applied back to back in ${(lastApplied - burstStarted).toFixed(0)} ms → ${rdsWrites - writesBefore} -rds writes; ` +
        `the last change published ${(lastSeen - lastApplied).toFixed(0)} ms after it was applied (debounce 100 ms, max 500 ms)\n`,
    );
    controller.abort();
    const sorted = [...samples].sort((a, b) => a - b);
    process.stdout.write(
      `apply → -rds seen by a watch, ${changes} changes (from kubectl apply returning): ` +
        `p50 ${percentile(sorted, 50).toFixed(1)} ms, p95 ${percentile(sorted, 95).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms, ` +
        `max ${percentile(sorted, 100).toFixed(1)} ms (debounce 100 ms: the first change after quiet is not delayed)\n`,
    );
    const sortedFromStart = [...fromStart].sort((a, b) => a - b);
    process.stdout.write(
      `  the same from kubectl apply starting (includes kubectl's own ~start-up): p50 ${percentile(sortedFromStart, 50).toFixed(1)} ms, ` +
        `p95 ${percentile(sortedFromStart, 95).toFixed(1)} ms, p99 ${percentile(sortedFromStart, 99).toFixed(1)} ms\n`,
    );
  } finally {
    await operator.stop();
    await controlPlane.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

function decisionLines(lines: LogLine[]): LogLine[] {
  return lines.filter((line) => /^published pilotfish-|^not publishing \(/.test(line.message) || line.message === "published objects already up to date");
}

function peakRssMb(pid: number | undefined): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
    return kb / 1024;
  } catch {
    return NaN;
  }
}

async function scale(entry: string[], size: number): Promise<void> {
  const { controlPlane, work, kubeconfig } = await prepare();
  let operator: OperatorProcess | undefined;
  try {
    const docs: unknown[] = [gateway];
    for (let i = 0; i < size; i++) {
      docs.push(headlessService(`svc-${i}`));
      docs.push(virtualService(`vs-${i}`, [0, 1, 2, 3, 4].map((r) => `/r${r}`), `svc-${i}`));
    }
    const file = join(work, "many.yaml");
    writeFileSync(file, docs.map((doc) => dump(doc)).join("---\n"));
    const created = performance.now();
    await controlPlane.kubectlOk(["create", "-f", file]);
    process.stdout.write(`created ${size} Services + ${size} VirtualServices × 5 routes in ${((performance.now() - created) / 1000).toFixed(1)} s\n`);

    // Budget lifted: the decision is then "written" or "TooLarge", which says the sizes.
    const spawned = Date.now();
    operator = await operatorFor(entry, kubeconfig, ["--max-file-subscriptions", "100000"], false);
    const first = await waitFor(() => {
      if (operator?.process.exitStatus) throw new Error(`the operator exited: ${JSON.stringify(operator.process.exitStatus)}`);
      return decisionLines(operator!.logs())[0];
    }, { timeoutMs: Number(process.env.BENCH_TIMEOUT_MS ?? 600_000), intervalMs: 20, what: "the first publish decision" }).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${operator?.process.output.text().split("\n").slice(-30).join("\n")}`);
    });
    const synced = operator.logs().find((line) => line.message.startsWith("informers synced"));
    const decidedAt = Date.parse(String(first.timestamp));
    const syncedAt = Date.parse(String(synced?.timestamp));
    process.stdout.write(
      `N=${size}: operator spawn → first decision ${decidedAt - spawned} ms; informers synced → first decision ${decidedAt - syncedAt} ms\n  ${first.message.slice(0, 600)}\n`,
    );
    const before = decisionLines(operator.logs()).length;
    const changed = performance.now();
    writeFileSync(file, dump(virtualService("vs-7", ["/changed", "/r1", "/r2", "/r3", "/r4"], "svc-7")));
    await controlPlane.kubectlOk(["apply", "-f", file]);
    const returned = performance.now();
    const next = await waitFor(() => decisionLines(operator!.logs())[before], { timeoutMs: 600_000, intervalMs: 5, what: "the next publish decision" });
    process.stdout.write(
      `N=${size}: one VirtualService changed → next decision ${(performance.now() - returned).toFixed(0)} ms after kubectl returned ` +
        `(${(performance.now() - changed).toFixed(0)} ms incl. kubectl; includes log polling)\n  ${next.message.slice(0, 400)}\n`,
    );
    process.stdout.write(`N=${size}: operator peak RSS ${peakRssMb(operator.process.child.pid).toFixed(0)} MB\n`);
  } finally {
    await operator?.stop();
    await controlPlane.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

const [mode, sizeArg] = process.argv.slice(2);
const buildDir = mkdtempSync(join(tmpdir(), "pilotfish-bench-build-"));
const entry = buildOperator(buildDir);
if (mode === undefined || mode === "latency") await latency(entry, 100);
if (mode === undefined || mode === "scale") await scale(entry, Number(sizeArg ?? 1000));
rmSync(buildDir, { recursive: true, force: true });
// Leave once stdout is flushed (a pipe is asynchronous; exit would drop the figures).
process.stdout.write("", () => process.exit(0));
