/**
 * `pilotfish operator --xds-address` end to end on the host: a real apiserver (the operator under
 * config/rbac's ServiceAccount), the operator as a child process serving ADS on 127.0.0.1 with its
 * defaults (TLS from its CA, Kubernetes authentication), and a real Envoy with an ADS bootstrap
 * (no files) for the shipped istio-ingressgateway Deployment: it trusts the CA from the
 * ConfigMap pilotfish-ca-root the operator published, and authenticates with a token bound to a
 * pod object of that Deployment. directResponse routes need no upstream, so no pod network is needed.
 */
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump } from "js-yaml";
import type { SyncStatus } from "../../../src/xds/server.js";
import { installCrds } from "../../support/crds.js";
import { startControlPlane } from "../../support/control-plane.js";
import type { ControlPlane } from "../../support/control-plane.js";
import { printEnvoyLogOnFailure } from "../../support/envoy.js";
import type { Envoy } from "../../support/envoy.js";
import { freePort, httpRequest, waitFor } from "../../support/net.js";
import { repoRoot } from "../../support/paths.js";
import { operatorKubeconfig } from "../operator/support/identity.js";
import { startOperator } from "../operator/support/operator-process.js";
import type { OperatorProcess } from "../operator/support/operator-process.js";
import { adsBootstrap } from "../../../src/xds/bootstrap.js";
import { startEnvoy } from "../../support/envoy.js";

const host = "ads.shop.example";

const virtualService = (routes: Array<{ prefix: string; body: string }>): string =>
  dump({
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "ads", namespace: "shop" },
    spec: {
      hosts: [host],
      gateways: ["shop-gateway"],
      http: routes.map((route) => ({ match: [{ uri: { prefix: route.prefix } }], directResponse: { status: 200, body: { string: route.body } } })),
    },
  });

describe("pilotfish operator serving a real Envoy over ADS", { timeout: 600_000 }, () => {
  let controlPlane: ControlPlane;
  let work: string;
  let operator: OperatorProcess | undefined;
  let envoy: Envoy | undefined;
  let httpPort: number;
  let xdsPort: number;
  let debugPort: number;

  printEnvoyLogOnFailure(() => (envoy ? [envoy] : []));
  afterEach((context) => {
    if ((context as { passed?: boolean }).passed !== false) return;
    process.stderr.write(`\n----- operator output (${context.name}) -----\n${operator?.process.output.text().split("\n").slice(-60).join("\n")}\n`);
  });

  const apply = (manifest: string) => controlPlane.kubectlOk(["apply", "-f", "-"], { input: manifest });
  const get = (path: string) => httpRequest({ url: `http://127.0.0.1:${httpPort}${path}`, headers: { host }, timeoutMs: 5000 });
  const syncz = async (): Promise<SyncStatus> => (await (await fetch(`http://127.0.0.1:${debugPort}/debug/syncz`)).json()) as SyncStatus;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "pilotfish-operator-ads-"));
    controlPlane = await startControlPlane();
    await installCrds(controlPlane);
    const kubeconfig = await operatorKubeconfig(controlPlane, work);
    await controlPlane.kubectlOk(["create", "namespace", "shop"]);
    await controlPlane.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway", "deployment.yaml")]);
    httpPort = await freePort();
    xdsPort = await freePort();
    debugPort = await freePort();
    await apply(
      dump({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "istio-ingressgateway", namespace: "istio-system" },
        spec: { selector: { istio: "ingressgateway" }, ports: [{ name: "http2", port: 80, targetPort: httpPort }] },
      }),
    );
    await apply(
      dump({
        apiVersion: "networking.istio.io/v1",
        kind: "Gateway",
        metadata: { name: "shop-gateway", namespace: "shop" },
        spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: [host] }] },
      }),
    );
    await apply(virtualService([{ prefix: "/", body: "first" }]));
    operator = await startOperator({
      kubeconfig,
      proxyConfigDir: join(work, "proxy"),
      proxyAdminPort: await freePort(),
      proxyStatusPort: await freePort(),
      extraArgs: ["--xds-address", `127.0.0.1:${xdsPort}`, "--xds-debug-addr", `127.0.0.1:${debugPort}`],
    });
  });

  after(async () => {
    await envoy?.stop();
    await operator?.stop();
    await controlPlane?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("Envoy gets the gateway's compiled config over TLS ADS with its pod's token and follows kubectl apply", async () => {
    const podName = "istio-ingressgateway-5d8f7c9b4-x2kqv";
    await controlPlane.kubectlOk(["create", "serviceaccount", "gateway", "-n", "istio-system"]);
    await apply(
      dump({
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name: podName,
          namespace: "istio-system",
          labels: { istio: "ingressgateway", "pod-template-hash": "5d8f7c9b4" },
          ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "istio-ingressgateway-5d8f7c9b4", uid: "00000000-0000-0000-0000-000000000001", controller: true }],
        },
        spec: { serviceAccountName: "gateway", containers: [{ name: "istio-proxy", image: "pilotfish/proxy:1.40.0" }] },
      }),
    );
    const uid = (await controlPlane.kubectlOk(["get", "pod", podName, "-n", "istio-system", "-o", "jsonpath={.metadata.uid}"])).trim();
    const token = (
      await controlPlane.kubectlOk(["create", "token", "gateway", "-n", "istio-system", "--audience", "pilotfish", "--bound-object-kind", "Pod", "--bound-object-name", podName, "--bound-object-uid", uid])
    ).trim();
    const caPem = await waitFor(
      async () => {
        const result = await controlPlane.kubectl(["get", "configmap", "pilotfish-ca-root", "-n", "istio-system", "-o", "jsonpath={.data.root-cert\\.pem}"]);
        return result.code === 0 && result.stdout.includes("BEGIN CERTIFICATE") ? result.stdout : undefined;
      },
      { timeoutMs: 30_000, what: "ConfigMap istio-system/pilotfish-ca-root" },
    );
    const bootstrap = adsBootstrap({
      xdsHost: "127.0.0.1",
      xdsPort,
      apiType: "GRPC",
      adminPort: 0,
      namespace: "istio-system",
      workloadName: "istio-ingressgateway",
      podName,
      labels: { istio: "ingressgateway" },
      tls: { caPem, serverName: "pilotfish.istio-system.svc" },
      token,
    });
    // Envoy's own RE2 limit (program size 100) instead of Istio's 32768 that pilotfish's
    // bootstraps set: a stricter proxy than the validator expects, so the next test can make it NACK.
    delete (bootstrap as { layered_runtime?: unknown }).layered_runtime;
    envoy = await startEnvoy({ bootstrap, name: "operator-ads", readyTimeoutMs: 60_000 });
    await waitFor(async () => (await get("/")).body === "first", { timeoutMs: 60_000, intervalMs: 100, what: "the first config served over ADS" });
    await apply(virtualService([{ prefix: "/new", body: "second" }, { prefix: "/", body: "first" }]));
    await waitFor(async () => (await get("/new")).body === "second", { timeoutMs: 60_000, intervalMs: 20, what: "the applied route served" });
    const status = await waitFor(
      async () => {
        const current = await syncz();
        const connection = current.proxies.find((p) => p.proxy === "istio-system/istio-ingressgateway");
        return connection && ["LDS", "RDS", "CDS"].every((type) => connection.types[type]?.status === "SYNCED") ? current : undefined;
      },
      { timeoutMs: 30_000, what: "/debug/syncz SYNCED" },
    );
    assert.ok(status.snapshots["istio-system/istio-ingressgateway"], "the proxy's snapshot is listed");
  });

  test("a config Envoy NACKs shows in the Gateway's Programmed condition with Envoy's message, and clears when the next one is accepted", async () => {
    const programmed = async (): Promise<{ status: string; reason: string; message: string } | undefined> => {
      const gateway = JSON.parse(await controlPlane.kubectlOk(["get", "gateway.networking.istio.io", "shop-gateway", "-n", "shop", "-o", "json"])) as {
        status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> };
      };
      return gateway.status?.conditions?.find((condition) => condition.type === "Programmed");
    };
    // Valid for Istio and the validator (program size within 32768), over the 100 this Envoy allows.
    await apply(
      dump({
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name: "ads", namespace: "shop" },
        spec: {
          hosts: [host],
          gateways: ["shop-gateway"],
          http: [
            { match: [{ uri: { regex: "/x{300}" } }], directResponse: { status: 200, body: { string: "regex" } } },
            { match: [{ uri: { prefix: "/" } }], directResponse: { status: 200, body: { string: "first" } } },
          ],
        },
      }),
    );
    const rejected = await waitFor(
      async () => {
        const condition = await programmed();
        return condition?.status === "False" ? condition : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: "Programmed=False after the NACK" },
    );
    assert.equal(rejected.reason, "ProxyRejected");
    assert.match(rejected.message, /istio-system\/istio-ingressgateway RDS: .*program size/i, "Envoy's own message");
    assert.equal((await get("/")).body, "first", "Envoy keeps serving its last accepted config");

    await apply(virtualService([{ prefix: "/", body: "third" }]));
    await waitFor(async () => (await get("/")).body === "third", { timeoutMs: 60_000, intervalMs: 50, what: "the next good config served" });
    await waitFor(async () => (await programmed())?.status === "True", { timeoutMs: 60_000, intervalMs: 200, what: "Programmed=True again after the ACK" });
  });
});
