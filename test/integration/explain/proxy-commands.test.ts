/**
 * `pilotfish proxy-status`, `proxy-config` and `explain --admin-addr` run as processes against a
 * live system on the host: a real apiserver, `pilotfish operator --xds-address` on loopback (under
 * config/rbac's identity) and a real Envoy fed over ADS for the shipped istio-ingressgateway
 * Deployment, with an HTTP and an HTTPS server (the certificate made by src/pki, delivered by SDS).
 */
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump } from "js-yaml";
import { createCertificateChainSet } from "../../../src/pki/index.js";
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
import { startAdsEnvoy } from "../xds/harness.js";
import { cliNodeArgs } from "../../support/cli.js";

const host = "shop.example";

function pilotfish(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...cliNodeArgs(), ...args], { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

describe("proxy-status, proxy-config and explain against a live operator and Envoy", { timeout: 600_000 }, () => {
  let controlPlane: ControlPlane;
  let work: string;
  let operator: OperatorProcess | undefined;
  let envoy: Envoy | undefined;
  let httpPort: number;
  let httpsPort: number;
  let debugPort: number;
  let adminAddr: string;

  printEnvoyLogOnFailure(() => (envoy ? [envoy] : []));
  afterEach((context) => {
    if ((context as { passed?: boolean }).passed !== false) return;
    process.stderr.write(`\n----- operator output (${context.name}) -----\n${operator?.process.output.text().split("\n").slice(-40).join("\n")}\n`);
  });

  const apply = (manifest: string) => controlPlane.kubectlOk(["apply", "-f", "-"], { input: manifest });

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "pilotfish-proxy-commands-"));
    controlPlane = await startControlPlane();
    await installCrds(controlPlane);
    const kubeconfig = await operatorKubeconfig(controlPlane, work);
    await controlPlane.kubectlOk(["create", "namespace", "shop"]);
    await controlPlane.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway", "deployment.yaml")]);
    httpPort = await freePort();
    httpsPort = await freePort();
    debugPort = await freePort();
    const xdsPort = await freePort();
    const chain = await createCertificateChainSet({ name: "shop", serverHosts: [host] });
    const docs = [
      { apiVersion: "v1", kind: "Service", metadata: { name: "istio-ingressgateway", namespace: "istio-system" }, spec: { selector: { istio: "ingressgateway" }, ports: [{ name: "http2", port: 80, targetPort: httpPort }, { name: "https", port: 443, targetPort: httpsPort }] } },
      { apiVersion: "v1", kind: "Secret", metadata: { name: "shop-credential", namespace: "istio-system" }, type: "kubernetes.io/tls", stringData: { "tls.crt": chain.server.fullChainPem, "tls.key": chain.server.privateKeyPem } },
      {
        apiVersion: "networking.istio.io/v1",
        kind: "Gateway",
        metadata: { name: "shop-gateway", namespace: "shop" },
        spec: {
          selector: { istio: "ingressgateway" },
          servers: [
            { port: { number: 80, name: "http", protocol: "HTTP" }, hosts: [host] },
            { port: { number: 443, name: "https", protocol: "HTTPS" }, hosts: [host], tls: { mode: "SIMPLE", credentialName: "shop-credential" } },
          ],
        },
      },
      {
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name: "shop", namespace: "shop" },
        spec: { hosts: [host], gateways: ["shop-gateway"], http: [{ match: [{ uri: { prefix: "/hello" } }], directResponse: { status: 200, body: { string: "hello" } } }] },
      },
    ];
    await apply(docs.map((doc) => dump(doc)).join("---\n"));
    operator = await startOperator({
      kubeconfig,
      proxyConfigDir: join(work, "proxy"),
      proxyAdminPort: await freePort(),
      proxyStatusPort: await freePort(),
      // Loopback, an Envoy with neither CA nor token: plaintext and no authentication, explicitly.
      extraArgs: ["--xds-address", `127.0.0.1:${xdsPort}`, "--xds-plaintext", "--xds-auth", "none", "--xds-debug-addr", `127.0.0.1:${debugPort}`],
    });
    envoy = await startAdsEnvoy("proxy-commands", xdsPort, "GRPC");
    adminAddr = `127.0.0.1:${envoy.adminPort}`;
    await waitFor(
      async () => {
        try {
          return (await httpRequest({ url: `https://127.0.0.1:${httpsPort}/hello`, headers: { host }, servername: host, insecure: true, timeoutMs: 3000 })).body === "hello";
        } catch {
          return false;
        }
      },
      { timeoutMs: 90_000, intervalMs: 200, what: "the HTTPS route served over ADS" },
    );
  });

  after(async () => {
    await envoy?.stop();
    await operator?.stop();
    await controlPlane?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("proxy-status: the gateway's row with every type SYNCED; PROXY filters; an unknown PROXY exits 1", async () => {
    const table = await waitFor(
      async () => {
        const run = await pilotfish("proxy-status", "--xds-debug-addr", `127.0.0.1:${debugPort}`);
        // Direct responses only: no cluster, so EDS is never subscribed.
        return run.code === 0 && /Kubernetes\s+SYNCED\s+SYNCED\s+NOT SENT\s+SYNCED\s+SYNCED\s+NOT SENT\s+pilotfish-/.test(run.stdout) ? run.stdout : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500, what: "proxy-status showing CDS LDS RDS SDS SYNCED (EDS not sent: no cluster)" },
    );
    const [header, row] = table.trimEnd().split("\n");
    assert.match(header ?? "", /^NAME\s+CLUSTER\s+CDS\s+LDS\s+EDS\s+RDS\s+SDS\s+ECDS\s+ISTIOD\s+VERSION$/);
    assert.match(row ?? "", /^istio-ingressgateway-5d8f7c9b4-x2kqv\.istio-system\s+Kubernetes\s+SYNCED/);

    const json = await pilotfish("proxy-status", "deploy/istio-ingressgateway.istio-system", "--xds-debug-addr", `127.0.0.1:${debugPort}`, "-o", "json");
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { proxies: Array<{ proxy: string; types: Record<string, { status: string }> }> };
    assert.deepEqual(parsed.proxies.map((p) => p.proxy), ["istio-system/istio-ingressgateway"]);
    assert.equal(parsed.proxies[0]?.types.SDS?.status, "SYNCED");

    const unknown = await pilotfish("proxy-status", "nope.default", "--xds-debug-addr", `127.0.0.1:${debugPort}`);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /proxy nope\.default is not connected .* \(connected: istio-ingressgateway-5d8f7c9b4-x2kqv\.istio-system\)/);
  });

  test("proxy-config routes and listeners from the live Envoy; secrets without the private key", async () => {
    const routes = await pilotfish("proxy-config", "routes", "--admin-addr", adminAddr);
    assert.equal(routes.code, 0, routes.stderr);
    assert.match(routes.stdout, /^NAME\s+VHOST NAME\s+DOMAINS\s+MATCH\s+VIRTUAL SERVICE\n/);
    assert.match(routes.stdout, /https\.443\.https\.shop-gateway\.shop\s+shop\.example:443\s+shop\.example\s+\/hello\*\s+shop\.shop/);
    assert.match(routes.stdout, /http\.\d+\s+shop\.example:80\s+shop\.example\s+\/hello\*\s+shop\.shop/);

    const listeners = await pilotfish("proxy-config", "listeners", "--admin-addr", adminAddr);
    assert.match(listeners.stdout, new RegExp(`0\\.0\\.0\\.0\\s+${httpsPort}\\s+SNI: shop\\.example \\(TLS\\)\\s+Route: https\\.443\\.https\\.shop-gateway\\.shop`));

    const secretsTable = await pilotfish("proxy-config", "secrets", "--admin-addr", adminAddr);
    assert.match(secretsTable.stdout, /kubernetes:\/\/shop-credential\s+Cert Chain\s+ACTIVE\s+true\s+[0-9a-f]+/);
    const secrets = await pilotfish("proxy-config", "secrets", "--admin-addr", adminAddr, "-o", "json");
    assert.equal(secrets.code, 0, secrets.stderr);
    assert.ok(secrets.stdout.includes("kubernetes://shop-credential"));
    assert.ok(!secrets.stdout.includes("PRIVATE KEY"), "no private key in the output");
  });

  test("explain --admin-addr traces the live config: HTTPS route, and the plain-HTTP miss", async () => {
    const routed = await pilotfish("explain", "--admin-addr", adminAddr, "--host", host, "--path", "/hello", "--scheme", "https", "--port", String(httpsPort), "-o", "json");
    assert.equal(routed.code, 0, routed.stderr);
    const explanation = JSON.parse(routed.stdout) as { verdict: string; status?: number; secret?: string; routeConfig?: string };
    assert.deepEqual([explanation.verdict, explanation.status, explanation.secret, explanation.routeConfig], ["direct_response", 200, "kubernetes://shop-credential", "https.443.https.shop-gateway.shop"]);
    const miss = await pilotfish("explain", "--admin-addr", adminAddr, "--host", host, "--path", "/other", "--port", String(httpPort), "-o", "json");
    const missed = JSON.parse(miss.stdout) as { verdict: string; reasons: string[] };
    assert.equal(missed.verdict, "not_found");
    assert.match(missed.reasons.at(-1) ?? "", /nearest miss is route #0 from VirtualService shop\/shop, which needs path prefix "\/hello"/);
  });
});
