/**
 * Hostile input at the cluster door (issue 10): every document in test/fixtures/hostile plus the
 * generated giants (README.md there) applied one by one with kubectl against a real apiserver,
 * while `pilotfish operator` (a real process) serves a real Envoy over ADS on loopback.
 *
 * What the CRD schema refuses must be refused with a readable message; what gets through must be
 * reported on the resource's status (and in the log when validation refuses it). Afterwards: the
 * operator is the same process, the good config applied before still serves (HTTP and HTTPS),
 * Envoy rejected nothing (every `update_rejected` stat is 0) and, once the set is deleted, the
 * operator's RSS is back within 20% of its baseline.
 */
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump } from "js-yaml";
import { installCrds } from "../../support/crds.js";
import { startControlPlane } from "../../support/control-plane.js";
import type { ControlPlane } from "../../support/control-plane.js";
import { printEnvoyLogOnFailure } from "../../support/envoy.js";
import type { Envoy } from "../../support/envoy.js";
import { freePort, httpRequest, waitFor } from "../../support/net.js";
import { repoRoot } from "../../support/paths.js";
import { startAdsEnvoy } from "../xds/harness.js";
import { operatorKubeconfig } from "./support/identity.js";
import { startOperator } from "./support/operator-process.js";
import type { LogLine, OperatorProcess } from "./support/operator-process.js";
import { generatedHostileCases, hostileFileCases, tlsSecret } from "./support/hostile-fixtures.js";
import type { HostileCase } from "./support/hostile-fixtures.js";

const goodHost = "ads.shop.example";
const NAMESPACE = "hostile";

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

interface Listed {
  kind: string;
  metadata: { name: string };
  status?: { conditions?: Condition[] };
}

function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** One sample's value from Prometheus text, matching the name and every given label; 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = /^[^{ ]+\{(.*)\} /.exec(line)?.[1] ?? "";
    if (Object.entries(labels).every(([key, value]) => labelText.includes(`${key}="${value}"`))) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return 0;
}

/** The good config's VirtualService: `extra` routes first, then `/` → "good". */
const goodVirtualService = (extra: { prefix: string; body: string }[] = []): string =>
  dump({
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "ads", namespace: "shop" },
    spec: {
      hosts: [goodHost],
      gateways: ["shop-gateway"],
      http: [...extra, { prefix: "/", body: "good" }].map((route) => ({ match: [{ uri: { prefix: route.prefix } }], directResponse: { status: 200, body: { string: route.body } } })),
    },
  });

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

describe("hostile input at the cluster door", { timeout: 1_200_000 }, () => {
  let controlPlane: ControlPlane;
  let work: string;
  let operator: OperatorProcess | undefined;
  let envoy: Envoy | undefined;
  let ports: { http: number; https: number; max: number; min: number };
  let xdsPort: number;
  let goodCaPem: string;
  let operatorPid: number;
  let baselineRss: number;
  let peakRss = 0;
  const cases: HostileCase[] = [];
  // The operator's output is a ring of the last lines; keep every JSON line seen, read often.
  const seenLogs = new Map<string, LogLine>();
  let logCollector: ReturnType<typeof setInterval> | undefined;
  const logs = (): LogLine[] => {
    for (const line of operator?.logs() ?? []) seenLogs.set(JSON.stringify(line), line);
    return [...seenLogs.values()];
  };
  const outcomes = new Map<string, { code: number; stderr: string }>();

  printEnvoyLogOnFailure(() => (envoy ? [envoy] : []));
  afterEach((context) => {
    if ((context as { passed?: boolean }).passed !== false) return;
    process.stderr.write(`\n----- operator output (${context.name}) -----\n${operator?.process.output.text().split("\n").slice(-80).join("\n")}\n`);
  });

  const apply = (manifest: string, namespace?: string) => controlPlane.kubectlOk(["apply", "-f", "-"], { input: manifest, namespace });
  const get = (port: number, host: string, path = "/") => httpRequest({ url: `http://127.0.0.1:${port}${path}`, headers: { host }, timeoutMs: 10_000 });
  const getTls = (path = "/") =>
    httpRequest({ url: `https://127.0.0.1:${ports.https}${path}`, headers: { host: goodHost }, servername: goodHost, ca: goodCaPem, timeoutMs: 10_000 });

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "pilotfish-hostile-"));
    cases.push(...hostileFileCases(), ...(await generatedHostileCases()));
    controlPlane = await startControlPlane();
    await installCrds(controlPlane);
    const kubeconfig = await operatorKubeconfig(controlPlane, work);
    await controlPlane.kubectlOk(["create", "namespace", "shop"]);
    await controlPlane.kubectlOk(["create", "namespace", NAMESPACE]);
    await controlPlane.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway", "deployment.yaml")]);
    ports = { http: await freePort(), https: await freePort(), max: await freePort(), min: await freePort() };
    xdsPort = await freePort();
    // Every server port the set uses maps to a free loopback port (the listener binds the target port).
    await apply(
      dump({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "istio-ingressgateway", namespace: "istio-system" },
        spec: {
          selector: { istio: "ingressgateway" },
          ports: [
            { name: "http2", port: 80, targetPort: ports.http },
            { name: "https", port: 443, targetPort: ports.https },
            { name: "http-max", port: 65535, targetPort: ports.max },
            { name: "http-min", port: 1, targetPort: ports.min },
          ],
        },
      }),
    );
    const good = await tlsSecret("shop-credential", goodHost);
    goodCaPem = good.caPem;
    await apply(good.manifest, "istio-system");
    await apply(
      dump({
        apiVersion: "networking.istio.io/v1",
        kind: "Gateway",
        metadata: { name: "shop-gateway", namespace: "shop" },
        spec: {
          selector: { istio: "ingressgateway" },
          servers: [
            { port: { number: 80, name: "http", protocol: "HTTP" }, hosts: [goodHost] },
            { port: { number: 443, name: "https", protocol: "HTTPS" }, hosts: [goodHost], tls: { mode: "SIMPLE", credentialName: "shop-credential" } },
          ],
        },
      }),
    );
    await apply(goodVirtualService());
    operator = await startOperator({
      kubeconfig,
      proxyConfigDir: join(work, "proxy"),
      proxyAdminPort: await freePort(),
      proxyStatusPort: await freePort(),
      extraArgs: ["--log-level", "info", "--xds-address", `127.0.0.1:${xdsPort}`, "--xds-plaintext", "--xds-auth", "none", "--xds-debug-addr", "off"],
    });
    operatorPid = operator.process.child.pid ?? 0;
    logCollector = setInterval(() => {
      logs();
      try {
        peakRss = Math.max(peakRss, rssBytes(operatorPid));
      } catch {
        // exited: the test's own assertions report it
      }
    }, 250);
    envoy = await startAdsEnvoy("hostile", xdsPort, "GRPC");
    await waitFor(async () => (await get(ports.http, goodHost)).body === "good", { timeoutMs: 60_000, intervalMs: 100, what: "the good config over HTTP" });
    await waitFor(async () => (await getTls()).body === "good", { timeoutMs: 60_000, intervalMs: 100, what: "the good config over HTTPS" });
    // Baseline after the first config is served and the first requests are through: a warm process.
    for (let i = 0; i < 20; i++) await get(ports.http, goodHost);
    baselineRss = rssBytes(operatorPid);
  });

  after(async () => {
    clearInterval(logCollector);
    await envoy?.stop();
    await operator?.stop();
    await controlPlane?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("the set has at least 100 cases, each with a reason and an expectation", () => {
    assert.ok(cases.length >= 100, `${cases.length} cases`);
    const names = cases.filter((c) => c.expect.type !== "rejected").map((c) => `${c.kind}/${c.name}`);
    assert.deepEqual(names.filter((name, index) => names.indexOf(name) !== index), [], "names of stored objects are unique");
  });

  test("/metrics: the families move when a resource is applied; JSON logs carry a reconcile id and the proxy", async () => {
    const proxy = "istio-system/istio-ingressgateway";
    const before = await operator!.metrics();
    await apply(goodVirtualService([{ prefix: "/probe", body: "probe" }]));
    await waitFor(async () => (await get(ports.http, goodHost, "/probe")).body === "probe", { timeoutMs: 60_000, intervalMs: 100, what: "the probe route" });
    const after = await waitFor(
      async () => {
        const text = await operator!.metrics();
        return sample(text, "pilotfish_status_writes_total", { kind: "VirtualService" }) > sample(before, "pilotfish_status_writes_total", { kind: "VirtualService" }) ? text : undefined;
      },
      { timeoutMs: 30_000, what: "the probe's status written" },
    );
    const moved = (name: string, labels: Record<string, string> = {}) => [name, sample(before, name, labels), sample(after, name, labels)] as const;
    for (const [name, was, is] of [
      moved("pilotfish_reconcile_duration_seconds_count", { key: proxy, result: "ok" }),
      moved("pilotfish_reconcile_duration_seconds_count", { key: "*status", result: "ok" }),
      moved("pilotfish_compile_duration_seconds_count", { proxy }),
      moved("pilotfish_publish_duration_seconds_count", { proxy }),
      moved("pilotfish_publishes_total", { proxy, object: "rds", result: "written" }),
    ]) {
      assert.ok(is > was, `${name} moved (${was} → ${is})`);
    }
    assert.ok(sample(after, "pilotfish_config_object_bytes", { proxy, object: "rds" }) > 0, "published bytes of the RDS object");
    assert.equal(sample(after, "pilotfish_config_object_limit_bytes"), 1024 * 1024);
    assert.ok(sample(after, "pilotfish_informer_lists_total", { informer: "virtualservices" }) >= 1, "the virtualservices informer listed");
    for (const family of ["pilotfish_queue_depth", "pilotfish_queue_retries_total", "pilotfish_informer_restarts_total", "pilotfish_xds_rejected_total", "pilotfish_errors_total"]) {
      assert.match(after, new RegExp(`^# TYPE ${family} `, "m"), `${family} is exported`);
    }
    assert.equal(sample(after, "pilotfish_xds_rejected_total"), 0, "Envoy NACKed nothing");

    const published = logs().filter((line) => line.message.startsWith("published ") && line.proxy === proxy);
    assert.ok(published.length > 0, "a 'published' line keyed by the proxy");
    const id = published.at(-1)!.reconcile;
    assert.match(String(id), /^[0-9a-f]{8}$/, "the line carries its reconcile id");
    const run = logs().filter((line) => line.reconcile === id);
    assert.ok(run.every((line) => line.proxy === proxy), "every line of that reconcile names the proxy");
  });

  test("kubectl applies every case: the schema's refusals are refused with a readable message, the rest is stored", async () => {
    // Four files at a time, each file's documents in order (conflicts.yaml's "first" must be
    // created before its "second"); 00-base.yaml first.
    const byFile = new Map<string, HostileCase[]>();
    for (const hostile of cases) {
      const file = hostile.id.split(/[#:]/)[0] ?? hostile.id;
      byFile.set(file, [...(byFile.get(file) ?? []), hostile]);
    }
    const applyAll = async (group: readonly HostileCase[]): Promise<void> => {
      for (const hostile of group) {
        const args = hostile.serverSide ? ["apply", "--server-side", "--field-manager", "hostile-test", "-f", "-"] : ["apply", "-f", "-"];
        const result = await controlPlane.kubectl(args, { input: hostile.text, namespace: NAMESPACE });
        outcomes.set(hostile.id, { code: result.code, stderr: result.stderr });
      }
    };
    const [base = [], ...groups] = [...byFile.values()];
    await applyAll(base);
    const worker = async (): Promise<void> => {
      for (let group = groups.shift(); group; group = groups.shift()) await applyAll(group);
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    const wrong: string[] = [];
    for (const hostile of cases) {
      const outcome = outcomes.get(hostile.id)!;
      const message = outcome.stderr.trim().split("\n").slice(0, 3).join(" | ");
      if (hostile.expect.type === "rejected") {
        if (outcome.code === 0) wrong.push(`${hostile.id} (${hostile.reason}): stored, expected a refusal containing "${hostile.expect.text}"`);
        else if (!outcome.stderr.includes(hostile.expect.text)) wrong.push(`${hostile.id}: refused with "${message}", expected it to contain "${hostile.expect.text}"`);
      } else if (outcome.code !== 0) {
        wrong.push(`${hostile.id} (${hostile.reason}): refused with "${message}", expected it stored`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  test("what got through is on its status (and, when invalid, in the log), within a minute", async () => {
    const stored = cases.filter((c) => c.expect.type === "invalid" || c.expect.type === "status");
    const list = async (): Promise<Map<string, Listed>> => {
      const out = await controlPlane.kubectlOk(["get", "gateways.networking.istio.io,virtualservices.networking.istio.io,destinationrules.networking.istio.io", "-o", "json"], { namespace: NAMESPACE });
      return new Map((JSON.parse(out) as { items: Listed[] }).items.map((item) => [`${item.kind}/${item.metadata.name}`, item]));
    };
    const problems = (objects: Map<string, Listed>): string[] =>
      stored.flatMap((hostile) => {
        const object = objects.get(`${hostile.kind}/${hostile.name}`);
        const conditions = object?.status?.conditions ?? [];
        const shown = conditions.map((c) => `${c.type}=${c.status} ${c.reason}: ${c.message}`).join("; ") || "no conditions";
        if (hostile.expect.type === "invalid") {
          const accepted = conditions.find((c) => c.type === "Accepted");
          const ok = accepted?.status === "False" && accepted.reason === "Invalid" && accepted.message.includes(hostile.expect.field);
          return ok ? [] : [`${hostile.id} ${hostile.kind}/${hostile.name}: expected Accepted=False Invalid naming ${hostile.expect.field}; has ${shown}`];
        }
        if (hostile.expect.type !== "status") return [];
        const { condition, status, reason } = hostile.expect;
        const found = conditions.find((c) => c.type === condition);
        const ok = found?.status === status && (reason === undefined || found.reason === reason);
        return ok ? [] : [`${hostile.id} ${hostile.kind}/${hostile.name}: expected ${condition}=${status}${reason ? ` ${reason}` : ""}; has ${shown}`];
      });
    let last: string[] = [];
    await waitFor(
      async () => {
        last = problems(await list());
        return last.length === 0;
      },
      { timeoutMs: 120_000, intervalMs: 1000, what: "every stored case's status" },
    ).catch(() => undefined);
    assert.deepEqual(last, []);

    const seen = logs();
    const unlogged = stored
      .filter((c) => c.expect.type === "invalid")
      .filter((c) => !seen.some((line) => line.level === "warn" && line.resource === `${c.kind}/${NAMESPACE}/${c.name}` && line.message.startsWith(`skipping invalid ${c.kind}`)))
      .map((c) => `${c.kind}/${c.name}`);
    assert.deepEqual(unlogged, [], "every invalid resource has a 'skipping invalid' warning keyed by the resource");
  });

  test("after the set: same operator process, the good config serves, hostile routes behave, Envoy rejected nothing", async () => {
    assert.equal(operator!.process.exitStatus, undefined, "the operator is still running");
    assert.equal(operator!.process.child.pid, operatorPid, "the same process (no restart)");
    assert.equal((await fetch(`${operator!.healthUrl}/healthz`)).status, 200);

    // Valid hostile config is served too (proves the set reached Envoy, not just the apiserver).
    await waitFor(async () => (await get(ports.http, "huge-routes.hostile.example", "/r4999")).body === "r4999", { timeoutMs: 120_000, intervalMs: 500, what: "route 4,999 of 5,000" });
    const good = await get(ports.http, goodHost);
    assert.equal(good.status, 200);
    assert.equal(good.body, "good", "the older VirtualService keeps `/` against conflict-hijack-good-host");
    assert.equal((await getTls()).body, "good", "HTTPS still serves with its credential");
    const unicode = await get(ports.http, "header-unicode.hostile.example");
    assert.equal(unicode.status, 200);
    assert.equal(unicode.body, "ünïcödé 🐟 body \u202E", "a unicode body reaches the client byte for byte");
    // RE2 is linear: an 8 KiB path that would take a backtracking engine forever is answered.
    const slow = await get(ports.http, "regex-nested.hostile.example", `/${"a".repeat(8192)}!`);
    assert.equal(slow.status, 404, "no match, answered");
    assert.equal((await get(ports.http, "regex-nested.hostile.example", `/${"a".repeat(8192)}`)).body, "nested");
    assert.equal((await get(ports.max, "port-max.hostile.example")).status, 404, "the port-65535 server listens (no route: 404)");

    const stats = await envoy!.stats();
    const rejected = [...stats].filter(([name]) => name.endsWith(".update_rejected"));
    for (const required of ["listener_manager.lds.update_rejected", "cluster_manager.cds.update_rejected"]) {
      assert.ok(stats.has(required), `Envoy has ${required}`);
    }
    assert.ok(rejected.some(([name]) => /\.rds\./.test(name)), "an RDS update_rejected stat exists");
    assert.deepEqual(rejected.filter(([, value]) => value !== 0), [], "Envoy rejected nothing pilotfish published");
    const metrics = await operator!.metrics();
    assert.match(metrics, /pilotfish_invalid_resources_total\{kind="VirtualService"\} [1-9]/);
  });

  test("after deleting the set, the operator's RSS is back within 20% of its baseline", async () => {
    // The giants first: every later delete then recompiles a small config.
    await controlPlane.kubectlOk(["delete", "virtualservice.networking.istio.io/huge-routes", "gateway.networking.istio.io/huge-servers", "secret/garbage-credential"], { namespace: NAMESPACE });
    await controlPlane.kubectlOk(["delete", "gateways.networking.istio.io,virtualservices.networking.istio.io,destinationrules.networking.istio.io,secrets,services", "--all", "--wait=true"], { namespace: NAMESPACE });
    await waitFor(async () => (await get(ports.http, "huge-routes.hostile.example", "/r4999")).status === 404, { timeoutMs: 180_000, intervalMs: 500, what: "the hostile routes gone" });
    assert.equal((await get(ports.http, goodHost)).body, "good");
    let rss = rssBytes(operatorPid);
    await waitFor(
      () => {
        rss = rssBytes(operatorPid);
        return rss <= baselineRss * 1.2;
      },
      { timeoutMs: 90_000, intervalMs: 1000, what: "RSS within 20% of the baseline" },
    ).catch(() => undefined);
    process.stdout.write(`# operator RSS: baseline ${mib(baselineRss)}, peak ${mib(peakRss)}, after the set ${mib(rss)} (${((rss / baselineRss - 1) * 100).toFixed(0)}%)\n`);
    assert.ok(rss <= baselineRss * 1.2, `RSS ${mib(rss)} is more than 20% over the baseline ${mib(baselineRss)}`);
    const stats = await envoy!.stats();
    assert.deepEqual([...stats].filter(([name, value]) => name.endsWith(".update_rejected") && value !== 0), []);
  });
});
