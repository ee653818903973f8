/**
 * `pilotfish operator --gateway-mode ads` with its defaults (TLS from its CA, Kubernetes
 * authentication) and a real Envoy started from the bootstrap the operator publishes (the
 * `envoy.yaml` of the -lds ConfigMap, as the gateway pod mounts it), on a real apiserver. The
 * pod's two mounts are files here: the CA root from ConfigMap pilotfish-ca-root and a token the
 * apiserver issued for a pod object of the gateway Deployment (audience pilotfish), at the
 * bootstrap's paths rewritten to a temp folder. Envoy's Google gRPC client reads the token file
 * for every new stream: a rotated token is sent on the next reconnect.
 *
 * The stream reaches SYNCED with the pod's identity, the gateway's secret arrives over SDS, and
 * then nothing is pushed while nothing changes, through several leader Lease renewals.
 */
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump, load } from "js-yaml";
import { gatewayCaRootPath, gatewayTokenPath } from "../../../src/publish/bootstrap.js";
import type { PushRecord, SyncStatus } from "../../../src/xds/server.js";
import { createCertificateChainSet } from "../../../src/pki/index.js";
import { installCrds } from "../../support/crds.js";
import { startControlPlane } from "../../support/control-plane.js";
import type { ControlPlane } from "../../support/control-plane.js";
import { printEnvoyLogOnFailure, startEnvoy } from "../../support/envoy.js";
import type { Bootstrap, Envoy } from "../../support/envoy.js";
import { freePort, httpRequest, waitFor } from "../../support/net.js";
import { repoRoot } from "../../support/paths.js";
import { operatorKubeconfig } from "../operator/support/identity.js";
import { startOperator } from "../operator/support/operator-process.js";
import type { OperatorProcess } from "../operator/support/operator-process.js";

const host = "webapp.shop.example";
const proxyKey = "istio-system/istio-ingressgateway";
const podName = "istio-ingressgateway-5d8f7c9b4-x2kqv";
/** LDS and CDS subscribed (an admitted stream) and every subscribed type SYNCED. */
const allSynced = (connection: SyncStatus["proxies"][number]): boolean =>
  Boolean(connection.types.LDS?.subscribed && connection.types.CDS?.subscribed) && Object.values(connection.types).every((t) => !t.subscribed || t.status === "SYNCED");

describe("pilotfish operator --gateway-mode ads: Envoy from the published bootstrap", { timeout: 600_000 }, () => {
  let controlPlane: ControlPlane;
  let work: string;
  let operator: OperatorProcess | undefined;
  let envoy: Envoy | undefined;
  let httpPort: number;
  let httpsPort: number;
  let upstreamPort: number;
  let xdsPort: number;
  let debugPort: number;
  let tokenFile: string;
  let chain: Awaited<ReturnType<typeof createCertificateChainSet>>;
  let operatorOptions: Parameters<typeof startOperator>[0];

  printEnvoyLogOnFailure(() => (envoy ? [envoy] : []));
  afterEach((context) => {
    if ((context as { passed?: boolean }).passed !== false) return;
    process.stderr.write(`\n----- operator output (${context.name}) -----\n${operator?.process.output.text().split("\n").slice(-80).join("\n")}\n`);
  });

  const apply = (manifest: unknown) => controlPlane.kubectlOk(["apply", "-f", "-"], { input: dump(manifest) });
  /** A token for the gateway's pod object, as the kubelet would project it. */
  const podToken = async (): Promise<string> => {
    const uid = (await controlPlane.kubectlOk(["get", "pod", podName, "-n", "istio-system", "-o", "jsonpath={.metadata.uid}"])).trim();
    return (await controlPlane.kubectlOk(["create", "token", "gateway", "-n", "istio-system", "--audience", "pilotfish", "--bound-object-kind", "Pod", "--bound-object-name", podName, "--bound-object-uid", uid])).trim();
  };
  const debug = async <T>(path: string): Promise<T> => (await (await fetch(`http://127.0.0.1:${debugPort}${path}`)).json()) as T;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "pilotfish-operator-ads-mode-"));
    controlPlane = await startControlPlane();
    await installCrds(controlPlane);
    const kubeconfig = await operatorKubeconfig(controlPlane, work);
    await controlPlane.kubectlOk(["create", "namespace", "shop"]);
    await controlPlane.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway", "deployment.yaml")]);
    httpPort = await freePort();
    httpsPort = await freePort();
    upstreamPort = await freePort();
    xdsPort = await freePort();
    debugPort = await freePort();
    await apply({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "istio-ingressgateway", namespace: "istio-system" },
      spec: { selector: { istio: "ingressgateway" }, ports: [{ name: "http2", port: 80, targetPort: httpPort }, { name: "https", port: 443, targetPort: httpsPort }] },
    });
    await apply({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "webapp", namespace: "shop" },
      spec: { selector: { app: "webapp" }, ports: [{ name: "http", port: 80, targetPort: upstreamPort }] },
    });
    await apply({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "webapp-1", namespace: "shop", labels: { "kubernetes.io/service-name": "webapp" } },
      addressType: "IPv4",
      ports: [{ name: "http", port: upstreamPort, protocol: "TCP" }],
      endpoints: [{ addresses: ["198.18.0.10"], conditions: { ready: true } }],
    });
    await controlPlane.kubectlOk(["create", "serviceaccount", "gateway", "-n", "istio-system"]);
    await apply({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: podName,
        namespace: "istio-system",
        labels: { istio: "ingressgateway", "pod-template-hash": "5d8f7c9b4" },
        ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "istio-ingressgateway-5d8f7c9b4", uid: "00000000-0000-0000-0000-000000000001", controller: true }],
      },
      spec: { serviceAccountName: "gateway", containers: [{ name: "istio-proxy", image: "pilotfish/proxy:1.40.0" }] },
    });
    // A credential the gateway's HTTPS server names: it reaches Envoy over SDS, only with a token.
    chain = await createCertificateChainSet({ name: "ads-mode", serverHosts: [host] });
    await apply({
      apiVersion: "v1",
      kind: "Secret",
      type: "kubernetes.io/tls",
      metadata: { name: "webapp-credential", namespace: "istio-system" },
      stringData: { "tls.crt": chain.server.fullChainPem, "tls.key": chain.server.privateKeyPem },
    });
    await apply({
      apiVersion: "networking.istio.io/v1",
      kind: "Gateway",
      metadata: { name: "shop-gateway", namespace: "shop" },
      spec: {
        selector: { istio: "ingressgateway" },
        servers: [
          { port: { number: 80, name: "http", protocol: "HTTP" }, hosts: [host] },
          { port: { number: 443, name: "https", protocol: "HTTPS" }, hosts: [host], tls: { mode: "SIMPLE", credentialName: "webapp-credential" } },
        ],
      },
    });
    await apply({
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "webapp", namespace: "shop" },
      spec: {
        hosts: [host],
        gateways: ["shop-gateway"],
        http: [{ match: [{ uri: { prefix: "/direct" } }], directResponse: { status: 200, body: { string: "direct" } } }, { route: [{ destination: { host: "webapp", port: { number: 80 } } }] }],
      },
    });
    operatorOptions = {
      kubeconfig,
      proxyConfigDir: join(work, "proxy"),
      proxyAdminPort: await freePort(),
      proxyStatusPort: await freePort(),
      // Nothing about TLS or authentication: the defaults.
      extraArgs: ["--gateway-mode", "ads", "--xds-address", `127.0.0.1:${xdsPort}`, "--xds-debug-addr", `127.0.0.1:${debugPort}`, "--debounce", "10"],
    };
    operator = await startOperator(operatorOptions);
  });

  after(async () => {
    await envoy?.stop();
    await operator?.stop();
    await controlPlane?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("Envoy from the published bootstrap: TLS and its pod's token; SYNCED with the pod's identity, the secret over SDS; nothing pushed while nothing changes", async () => {
    const published = await waitFor(
      async () => {
        const result = await controlPlane.kubectl(["get", "configmap", "pilotfish-istio-ingressgateway-lds", "-n", "istio-system", "-o", "jsonpath={.data.envoy\\.yaml}"]);
        return result.code === 0 && result.stdout.includes("google_grpc") ? result.stdout : undefined;
      },
      { timeoutMs: 60_000, what: "the ads bootstrap (TLS, token) published" },
    );
    assert.ok(published.includes(gatewayCaRootPath) && published.includes(gatewayTokenPath), "the bootstrap reads the pod's CA root and token mounts");
    assert.match(published, /pilotfish\.istio-system\.svc/, "the server is verified as the name in its certificate");
    const caPem = await waitFor(
      async () => {
        const result = await controlPlane.kubectl(["get", "configmap", "pilotfish-ca-root", "-n", "istio-system", "-o", "jsonpath={.data.root-cert\\.pem}"]);
        return result.code === 0 && result.stdout.includes("BEGIN CERTIFICATE") ? result.stdout : undefined;
      },
      { timeoutMs: 30_000, what: "ConfigMap istio-system/pilotfish-ca-root" },
    );
    // The pod's mounts, as files on this host.
    const caFile = join(work, "root-cert.pem");
    tokenFile = join(work, "pilotfish-token");
    writeFileSync(caFile, caPem);
    writeFileSync(tokenFile, await podToken());
    const bootstrap = load(published.replaceAll(gatewayCaRootPath, caFile).replaceAll(gatewayTokenPath, tokenFile)) as Bootstrap;
    envoy = await startEnvoy({ bootstrap, name: "operator-ads-mode", readyTimeoutMs: 60_000 });
    await waitFor(async () => (await httpRequest({ url: `http://127.0.0.1:${httpPort}/direct`, headers: { host }, timeoutMs: 5000 }).catch(() => undefined))?.status === 200, {
      timeoutMs: 60_000,
      intervalMs: 100,
      what: "the gateway served over ADS",
    });
    const syncedAt = await waitFor(
      async () => {
        const connections = (await debug<SyncStatus>("/debug/syncz")).proxies.filter((p) => p.proxy === proxyKey);
        const ok = connections.length === 1 && allSynced(connections[0]!);
        return ok ? Date.now() : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `/debug/syncz SYNCED` },
    );
    // The leader renews its Lease every 2 s: three renewals and more.
    await new Promise((resolve) => setTimeout(resolve, 7_000));
    const pushes = (await debug<PushRecord[]>("/debug/pushz")).filter((p) => p.at >= syncedAt && p.proxy === proxyKey);
    assert.deepEqual(pushes.map((p) => `${p.type} +${p.resources.join(",")} -${p.removed.join(",")}`), [], "nothing pushed while nothing changed");
    const connections = (await debug<SyncStatus>("/debug/syncz")).proxies.filter((p) => p.proxy === proxyKey);
    assert.equal(connections.length, 1);
    for (const [type, state] of Object.entries(connections[0]!.types)) if (state.subscribed) assert.equal(state.status, "SYNCED", `${type} still SYNCED`);
    assert.deepEqual(connections[0]!.identity, { namespace: "istio-system", serviceAccount: "gateway", pod: podName }, "authenticated as the pod");
    assert.ok(!connections[0]!.anonymous);
    const https = await waitFor(
      async () => {
        const response = await httpRequest({ url: `https://127.0.0.1:${httpsPort}/direct`, headers: { host }, servername: host, ca: chain.root.certificatePem, timeoutMs: 5000 }).catch(() => undefined);
        return response?.status === 200 ? response : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: "HTTPS with the credential delivered over SDS" },
    );
    assert.equal(https.peerCertificate?.subjectCN, host);
  });

  test("the token file is read for every new stream: a bad one is refused, a rotated one admitted; the operator restarted, nothing changes", async () => {
    const before = (await debug<SyncStatus>("/debug/syncz")).snapshots[proxyKey];
    // What Envoy sends on its next stream is what the file holds then: garbage is refused...
    writeFileSync(tokenFile, "not-a-token");
    await operator?.stop();
    operator = await startOperator(operatorOptions);
    await waitFor(() => operator?.logs().some((line) => /refused \(UNAUTHENTICATED\)/.test(line.message)), { timeoutMs: 90_000, intervalMs: 200, what: "the stream with the garbage token refused" });
    assert.equal((await debug<SyncStatus>("/debug/syncz")).proxies.filter((p) => p.proxy === proxyKey && p.types.LDS?.pushes).length, 0, "nothing sent to the refused stream");
    // ...and the rotated token the kubelet would write next is admitted on the retry.
    writeFileSync(tokenFile, await podToken());
    const connection = await waitFor(
      async () => {
        const connections = (await debug<SyncStatus>("/debug/syncz").catch(() => undefined))?.proxies.filter((p) => p.proxy === proxyKey) ?? [];
        const ok = connections.length === 1 && allSynced(connections[0]!);
        return ok ? connections[0] : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200, what: "Envoy reconnected to the restarted operator and SYNCED" },
    );
    assert.equal(connection.identity?.pod, podName);
    assert.deepEqual((await debug<SyncStatus>("/debug/syncz")).snapshots[proxyKey], before, "the same versions after the restart");
    // Delta with initial_resource_versions: nothing Envoy holds is sent again.
    const pushes = (await debug<PushRecord[]>("/debug/pushz")).filter((p) => p.proxy === proxyKey);
    assert.deepEqual(pushes.flatMap((p) => p.resources), [], `nothing re-sent after the restart: ${JSON.stringify(pushes.map((p) => [p.type, p.resources]))}`);
    assert.equal((await httpRequest({ url: `http://127.0.0.1:${httpPort}/direct`, headers: { host }, timeoutMs: 5000 })).status, 200);
  });
});
