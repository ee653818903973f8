/**
 * Soak (issue 10; run on purpose, not a test): a real apiserver, `pilotfish operator` as a child
 * process serving a real Envoy over ADS on loopback, one stable route that a steady request loop
 * calls the whole time, and a fixed count of seeded random operations on other resources:
 * apply a valid VirtualService / Gateway / DestinationRule, apply an invalid one (a document of
 * test/fixtures/hostile, or a generated invalid mutation), try to take the stable host, delete.
 * The same seed gives the same operations in the same order.
 *
 *   npx tsx bench/soak.ts                    # seed 1, 600 operations
 *   npx tsx bench/soak.ts --seed 7 --ops 2000
 *   make soak                                # the same with the defaults
 *
 * Prints a table: operator RSS over time (baseline, peak, end after the churn is deleted),
 * operations by kind, kubectl refusals (expected for schema-invalid documents), unexpected
 * refusals, operator error lines and restarts, Envoy update_rejected, and requests on the
 * stable route (target: 0 failed).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { dump } from "js-yaml";
import { installCrds } from "../test/support/crds.js";
import { startControlPlane } from "../test/support/control-plane.js";
import { freePort, httpRequest, waitFor } from "../test/support/net.js";
import { repoRoot } from "../test/support/paths.js";
import { startAdsEnvoy } from "../test/integration/xds/harness.js";
import { operatorKubeconfig } from "../test/integration/operator/support/identity.js";
import { startOperator } from "../test/integration/operator/support/operator-process.js";
import { hostileFileCases } from "../test/integration/operator/support/hostile-fixtures.js";
import { seededRandom } from "../test/support/random.js";

const { values } = parseArgs({ options: { seed: { type: "string", default: "1" }, ops: { type: "string", default: "600" }, "request-interval": { type: "string", default: "20" } } });
const seed = Number(values.seed);
const operations = Number(values.ops);
const requestIntervalMs = Number(values["request-interval"]);


const rand = seededRandom(seed);
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
const int = (min: number, max: number): number => min + Math.floor(rand() * (max - min + 1));

const stableHost = "stable.soak.example";
const SOAK = "soak";

function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) * 1024 : NaN;
}

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

type Operation = { kind: string; manifest?: string; delete?: string; expectRefusal: boolean };

function validVirtualService(slot: number): unknown {
  const routes = int(1, 40);
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: `vs-${slot}` },
    spec: {
      hosts: [`vs-${slot}.soak.example`],
      gateways: [pick(["soak-gateway", "soak-gateway", `gw-${int(0, 4)}`])],
      http: Array.from({ length: routes }, (_, index) => ({
        match: [{ uri: { prefix: `/p${index}-${int(0, 999)}` } }],
        ...(rand() < 0.5
          ? { directResponse: { status: pick([200, 201, 404, 503]), body: { string: `vs-${slot} route ${index}` } } }
          : { route: [{ destination: { host: "echo", port: { number: 80 } }, weight: 100 }], timeout: `${int(1, 30)}s`, retries: { attempts: int(0, 5), perTryTimeout: "1s" } }),
      })),
    },
  };
}

function validGateway(slot: number): unknown {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "Gateway",
    metadata: { name: `gw-${slot}` },
    spec: {
      selector: { istio: pick(["ingressgateway", "ingressgateway", "nobody"]) },
      servers: Array.from({ length: int(1, 20) }, (_, index) => ({ port: { number: 80, name: `http-${index}`, protocol: "HTTP" }, hosts: [`g${slot}-${index}.soak.example`] })),
    },
  };
}

function validDestinationRule(slot: number): unknown {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "DestinationRule",
    metadata: { name: `dr-${slot}` },
    spec: { host: "echo", trafficPolicy: { loadBalancer: { simple: pick(["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM"]) }, connectionPool: { tcp: { maxConnections: int(1, 1000) } } } },
  };
}

/** A valid VirtualService made invalid in one seeded way (validation refuses; the schema does not). */
function invalidVirtualService(slot: number): unknown {
  const vs = validVirtualService(slot) as { spec: { hosts: string[]; http: Record<string, unknown>[] } };
  const first = vs.spec.http[0]!;
  switch (int(0, 4)) {
    case 0:
      vs.spec.hosts = ["short"];
      break;
    case 1:
      first.headers = { request: { set: { "x-a": "line\r\nbreak" } } };
      break;
    case 2:
      first.match = [{ uri: { regex: "(unclosed" } }];
      break;
    case 3:
      first.timeout = "1ns";
      break;
    default:
      first.retries = { attempts: -1 };
  }
  return vs;
}

/** Someone else's VirtualService for the stable host, newer than the stable one: must not take `/`. */
function hijack(slot: number): unknown {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: `hijack-${slot}` },
    spec: { hosts: [stableHost], gateways: ["stable/stable-gateway"], http: [{ match: [{ uri: { prefix: "/" } }], directResponse: { status: 500, body: { string: "hijacked" } } }] },
  };
}

function plan(count: number): Operation[] {
  const hostile = hostileFileCases().filter((c) => !["00-base.yaml#0", "00-base.yaml#1"].includes(c.id) && c.kind !== "Secret" && c.kind !== "Service");
  const ops: Operation[] = [];
  for (let i = 0; i < count; i++) {
    const roll = rand();
    if (roll < 0.35) ops.push({ kind: "apply valid VirtualService", manifest: dump(validVirtualService(int(0, 19))), expectRefusal: false });
    else if (roll < 0.45) ops.push({ kind: "apply valid Gateway", manifest: dump(validGateway(int(0, 4))), expectRefusal: false });
    else if (roll < 0.5) ops.push({ kind: "apply valid DestinationRule", manifest: dump(validDestinationRule(int(0, 4))), expectRefusal: false });
    else if (roll < 0.6) ops.push({ kind: "apply invalid VirtualService", manifest: dump(invalidVirtualService(int(0, 19))), expectRefusal: false });
    else if (roll < 0.75) {
      const chosen = pick(hostile);
      ops.push({ kind: "apply hostile fixture", manifest: chosen.text, expectRefusal: chosen.expect.type === "rejected" });
    } else if (roll < 0.8) ops.push({ kind: "apply stable-host hijack", manifest: dump(hijack(int(0, 2))), expectRefusal: false });
    else {
      const target = pick([`virtualservice/vs-${int(0, 19)}`, `gateway/gw-${int(0, 4)}`, `destinationrule/dr-${int(0, 4)}`, `virtualservice/hijack-${int(0, 2)}`]);
      ops.push({ kind: "delete", delete: target, expectRefusal: false });
    }
  }
  return ops;
}

const work = mkdtempSync(join(tmpdir(), "pilotfish-soak-"));
const controlPlane = await startControlPlane();
const cleanup: (() => Promise<void>)[] = [() => controlPlane.stop()];
try {
  await installCrds(controlPlane);
  const kubeconfig = await operatorKubeconfig(controlPlane, work);
  for (const namespace of ["stable", SOAK]) await controlPlane.kubectlOk(["create", "namespace", namespace]);
  await controlPlane.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway", "deployment.yaml")]);
  const httpPort = await freePort();
  const xdsPort = await freePort();
  const apply = (manifest: string, namespace?: string) => controlPlane.kubectlOk(["apply", "-f", "-"], { input: manifest, namespace });
  await apply(dump({ apiVersion: "v1", kind: "Service", metadata: { name: "istio-ingressgateway", namespace: "istio-system" }, spec: { selector: { istio: "ingressgateway" }, ports: [{ name: "http2", port: 80, targetPort: httpPort }] } }));
  await apply(dump({ apiVersion: "v1", kind: "Service", metadata: { name: "echo" }, spec: { ports: [{ name: "http", port: 80, targetPort: 8080 }] } }), SOAK);
  await apply(
    dump({
      apiVersion: "networking.istio.io/v1",
      kind: "Gateway",
      metadata: { name: "stable-gateway", namespace: "stable" },
      spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: [stableHost] }] },
    }),
  );
  await apply(
    dump({
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "stable", namespace: "stable" },
      spec: { hosts: [stableHost], gateways: ["stable-gateway"], http: [{ match: [{ uri: { prefix: "/" } }], directResponse: { status: 200, body: { string: "stable" } } }] },
    }),
  );
  await apply(
    dump({
      apiVersion: "networking.istio.io/v1",
      kind: "Gateway",
      metadata: { name: "soak-gateway" },
      spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*.soak.example"] }] },
    }),
    SOAK,
  );
  const operator = await startOperator({
    kubeconfig,
    proxyConfigDir: join(work, "proxy"),
    proxyAdminPort: await freePort(),
    proxyStatusPort: await freePort(),
    extraArgs: ["--log-level", "info", "--xds-address", `127.0.0.1:${xdsPort}`, "--xds-debug-addr", "off"],
  });
  cleanup.unshift(async () => void (await operator.stop()));
  const pid = operator.process.child.pid ?? 0;
  const envoy = await startAdsEnvoy("soak", xdsPort, "GRPC");
  cleanup.unshift(() => envoy.stop());
  const stable = () => httpRequest({ url: `http://127.0.0.1:${httpPort}/`, headers: { host: stableHost }, timeoutMs: 5000 });
  await waitFor(async () => (await stable()).body === "stable", { timeoutMs: 60_000, intervalMs: 100, what: "the stable route" });

  // The steady request loop on the stable route, for the whole run.
  const requests = { ok: 0, failed: 0, failures: [] as string[] };
  let looping = true;
  const loop = (async () => {
    while (looping) {
      try {
        const response = await stable();
        if (response.status === 200 && response.body === "stable") requests.ok++;
        else {
          requests.failed++;
          if (requests.failures.length < 5) requests.failures.push(`${response.status} ${response.body.slice(0, 60)}`);
        }
      } catch (error) {
        requests.failed++;
        if (requests.failures.length < 5) requests.failures.push((error as Error).message);
      }
      await new Promise((resolve) => setTimeout(resolve, requestIntervalMs));
    }
  })();

  // Baseline once start-up garbage is collected: 10 s of serving the stable route.
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  const baseline = rssBytes(pid);
  const samples: { at: number; rss: number }[] = [{ at: 0, rss: baseline }];
  const started = performance.now();
  const sampler = setInterval(() => samples.push({ at: (performance.now() - started) / 1000, rss: rssBytes(pid) }), 1000);

  const ops = plan(operations);
  const counts = new Map<string, number>();
  let expectedRefusals = 0;
  const unexpected: string[] = [];
  for (const [index, op] of ops.entries()) {
    counts.set(op.kind, (counts.get(op.kind) ?? 0) + 1);
    const result = op.delete
      ? await controlPlane.kubectl(["delete", op.delete, "--ignore-not-found", "--wait=false"], { namespace: SOAK })
      : await controlPlane.kubectl(["apply", "-f", "-"], { input: op.manifest, namespace: SOAK });
    if (result.code !== 0 && op.expectRefusal) expectedRefusals++;
    else if (result.code !== 0 || op.expectRefusal) unexpected.push(`#${index} ${op.kind}: ${result.code === 0 ? "stored, expected a refusal" : result.stderr.trim().split("\n")[0]}`);
    if ((index + 1) % 100 === 0) process.stdout.write(`  ${index + 1}/${ops.length} operations, RSS ${mib(rssBytes(pid))}, stable route ok ${requests.ok} failed ${requests.failed}\n`);
  }
  const churnSeconds = (performance.now() - started) / 1000;
  const peakDuringChurn = Math.max(...samples.map((s) => s.rss));

  // The churn gone: delete what the soak created, let the operator settle, measure again.
  await controlPlane.kubectl(["delete", "virtualservices.networking.istio.io,gateways.networking.istio.io,destinationrules.networking.istio.io", "--all", "--wait=true"], { namespace: SOAK });
  await new Promise((resolve) => setTimeout(resolve, 15_000));
  clearInterval(sampler);
  looping = false;
  await loop;
  const end = rssBytes(pid);
  const metrics = await operator.metrics();
  const stats = await envoy.stats();
  const rejected = [...stats].filter(([name]) => name.endsWith(".update_rejected")).reduce((sum, [, value]) => sum + value, 0);
  const errorLines = operator.logs().filter((line) => line.level === "error");
  const reconcileErrors = /^pilotfish_errors_total\{stage="reconcile"\} (\d+)/m.exec(metrics)?.[1] ?? "0";
  const nacks = [...metrics.matchAll(/^pilotfish_xds_rejected_total\{[^}]*\} (\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0);

  const row = (label: string, value: string | number) => process.stdout.write(`| ${label.padEnd(44)} | ${String(value).padStart(20)} |\n`);
  process.stdout.write(`\nsoak: seed ${seed}, ${operations} operations in ${churnSeconds.toFixed(0)} s, a request every ${requestIntervalMs} ms on the stable route\n\n`);
  process.stdout.write(`| ${"measure".padEnd(44)} | ${"value".padStart(20)} |\n|${"-".repeat(46)}|${"-".repeat(22)}|\n`);
  for (const [kind, count] of [...counts].sort()) row(`operations: ${kind}`, count);
  row("kubectl refusals (expected: schema-invalid)", expectedRefusals);
  row("kubectl outcomes not as expected", unexpected.length);
  row("operator RSS baseline", mib(baseline));
  row("operator RSS peak (during churn)", mib(peakDuringChurn));
  row("operator RSS end (churn deleted, +15 s)", `${mib(end)} (${((end / baseline - 1) * 100).toFixed(0)}%)`);
  for (const fraction of [0.25, 0.5, 0.75, 1]) {
    const sample = samples[Math.min(samples.length - 1, Math.floor((samples.length - 1) * fraction))]!;
    row(`operator RSS at ${sample.at.toFixed(0)} s`, mib(sample.rss));
  }
  row("operator exited / restarted", operator.process.exitStatus ? `yes ${JSON.stringify(operator.process.exitStatus)}` : "no");
  row("operator error log lines", errorLines.length);
  row("reconcile errors (pilotfish_errors_total)", reconcileErrors);
  row("Envoy NACKs (pilotfish_xds_rejected_total)", nacks);
  row("Envoy update_rejected (sum over all)", rejected);
  row("stable route requests ok", requests.ok);
  row("stable route requests failed (target 0)", requests.failed);
  for (const failure of requests.failures) process.stdout.write(`  stable route failure: ${failure}\n`);
  for (const line of unexpected.slice(0, 10)) process.stdout.write(`  unexpected: ${line}\n`);
  for (const line of errorLines.slice(0, 10)) process.stdout.write(`  operator error: ${line.message.slice(0, 200)}\n`);
} finally {
  for (const step of cleanup) await step().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
// Leave once stdout is flushed (a pipe is asynchronous; exit would drop the figures).
process.stdout.write("", () => process.exit(0));
