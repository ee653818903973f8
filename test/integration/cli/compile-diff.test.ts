/**
 * `pilotfish compile --diff` as a process against a real kube-apiserver where the operator (a
 * real `pilotfish operator` process) has published the gateway's config: the same manifests
 * diff to nothing (exit 0), a changed VirtualService and a new Service show per-resource unified
 * diffs and a one-line summary (exit 2), a rotated TLS credential shows as a secret change
 * without a private key printed, and an unreachable cluster exits 1 saying so.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump } from "js-yaml";
import { createCertificateChainSet } from "../../../src/pki/index.js";
import { installCrds } from "../../support/crds.js";
import { startControlPlane } from "../../support/control-plane.js";
import type { ControlPlane } from "../../support/control-plane.js";
import { freePort, waitFor } from "../../support/net.js";
import { repoRoot } from "../../support/paths.js";
import { startOperator } from "../operator/support/operator-process.js";
import type { OperatorProcess } from "../operator/support/operator-process.js";
import { cliNodeArgs } from "../../support/cli.js";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function pilotfish(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...cliNodeArgs(), ...args], { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

const gateway = {
  apiVersion: "networking.istio.io/v1",
  kind: "Gateway",
  metadata: { name: "shop-gateway", namespace: "shop" },
  spec: {
    selector: { istio: "ingressgateway" },
    servers: [
      { port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*.shop.example"] },
      { port: { number: 443, name: "https", protocol: "HTTPS" }, hosts: ["secure.shop.example"], tls: { mode: "SIMPLE", credentialName: "shop-credential" } },
    ],
  },
};

const virtualService = (hosts: string[], extraRoutes: unknown[] = []) => ({
  apiVersion: "networking.istio.io/v1",
  kind: "VirtualService",
  metadata: { name: "web", namespace: "shop" },
  spec: { hosts, gateways: ["shop-gateway"], http: [...extraRoutes, { route: [{ destination: { host: "webapp", port: { number: 80 } } }] }] },
});

const service = (name: string) => ({ apiVersion: "v1", kind: "Service", metadata: { name, namespace: "shop" }, spec: { ports: [{ name: "http", port: 80, targetPort: 8080 }] } });

const slice = (name: string, address: string) => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name: `${name}-1`, namespace: "shop", labels: { "kubernetes.io/service-name": name } },
  addressType: "IPv4",
  ports: [{ name: "http", port: 8080 }],
  endpoints: [{ addresses: [address], conditions: { ready: true } }],
});

async function tlsSecret() {
  const pki = await createCertificateChainSet({ name: "diff test", serverHosts: ["secure.shop.example"] });
  return {
    secret: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "shop-credential", namespace: "shop" },
      type: "kubernetes.io/tls",
      stringData: { "tls.crt": pki.server.fullChainPem, "tls.key": pki.server.privateKeyPem },
    },
    keyBody: pki.server.privateKeyPem.split("\n")[1] ?? "",
  };
}

const yaml = (...docs: unknown[]): string => docs.map((doc) => dump(doc, { lineWidth: -1 })).join("---\n");

describe("pilotfish compile --diff against a live cluster", () => {
  let controlPlane: ControlPlane;
  let operator: OperatorProcess | undefined;
  let work: string;
  let kubeconfig: string;
  let applied: string;
  let publishedKeyBody: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "pilotfish-diff-test-"));
    controlPlane = await startControlPlane();
    kubeconfig = controlPlane.kubeconfigPath;
    await installCrds(controlPlane);
    await controlPlane.kubectlOk(["create", "namespace", "shop"]);
    await controlPlane.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway", "00-namespace.yaml")]);
    await controlPlane.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway", "deployment.yaml")]);
    await controlPlane.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway", "service.yaml")]);
    const tls = await tlsSecret();
    publishedKeyBody = tls.keyBody;
    applied = join(work, "applied.yaml");
    writeFileSync(applied, yaml(gateway, virtualService(["www.shop.example"]), service("webapp"), slice("webapp", "198.18.10.1"), tls.secret));
    await controlPlane.kubectlOk(["apply", "-f", applied]);
    operator = await startOperator({ kubeconfig, proxyConfigDir: join(work, "proxy"), proxyAdminPort: await freePort(), proxyStatusPort: await freePort() });
    await waitFor(
      async () => {
        const result = await controlPlane.kubectl(["get", "secret", "-n", "istio-system", "pilotfish-istio-ingressgateway-sds", "-o", "jsonpath={.data}"]);
        return result.code === 0 && result.stdout.includes("sds.") ? true : undefined;
      },
      { timeoutMs: 60_000, what: "the operator to publish the gateway's config" },
    );
  });

  after(async () => {
    await operator?.stop();
    await controlPlane?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("the manifests the cluster already has: no change, exit 0", async () => {
    const run = await pilotfish("compile", "-f", applied, "--diff", "--kubeconfig", kubeconfig);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stderr, /^istio-system\/istio-ingressgateway: no change$/m);
    assert.match(run.stderr, /no proxy's config would change/);
    assert.doesNotMatch(run.stdout, /^[+-]/m);
  });

  test("a changed VirtualService and a new Service: a diff per resource and the summary, exit 2", async () => {
    const file = join(work, "change.yaml");
    const catalogRoute = { match: [{ uri: { prefix: "/catalog" } }], route: [{ destination: { host: "catalog", port: { number: 80 } } }] };
    writeFileSync(file, yaml(virtualService(["www.shop.example"], [catalogRoute]), service("catalog"), slice("catalog", "198.18.10.2")));
    const run = await pilotfish("compile", "-f", file, "--diff", "--kubeconfig", kubeconfig);
    assert.equal(run.code, 2, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stderr, /^istio-system\/istio-ingressgateway: ~1 route config, \+1 route, \+1 cluster, \+1 endpoint$/m);
    assert.match(run.stderr, /1 of 1 proxies' config would change/);
    assert.match(run.stdout, /^# istio-system\/istio-ingressgateway: ~1 route config/m);
    assert.match(run.stdout, /^--- a\/routes\/http\.8080\n\+\+\+ b\/routes\/http\.8080\n@@ /m);
    assert.match(run.stdout, /^\+\s+prefix: \/catalog$/m);
    assert.match(run.stdout, /^--- \/dev\/null\n\+\+\+ b\/clusters\/outbound\|80\|\|catalog\.shop\.svc\.cluster\.local$/m);
    assert.match(run.stdout, /^\+\s+address: 198\.18\.10\.2$/m);
    // The cluster itself is untouched: the diff is a preview.
    const again = await pilotfish("compile", "-f", applied, "--diff", "--kubeconfig", kubeconfig);
    assert.equal(again.code, 0, again.stderr);
  });

  test("a rotated credential is a secret change; no private key is printed", async () => {
    const rotated = await tlsSecret();
    const file = join(work, "rotate.yaml");
    writeFileSync(file, yaml(rotated.secret));
    const run = await pilotfish("compile", "-f", file, "--diff", "--kubeconfig", kubeconfig);
    assert.equal(run.code, 2, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stderr, /^istio-system\/istio-ingressgateway: ~1 secret$/m);
    assert.match(run.stdout, /^--- a\/secrets\/kubernetes:\/\/shop-credential$/m);
    assert.match(run.stdout, /^-\s+redacted: sha256:[0-9a-f]{16}$/m);
    assert.match(run.stdout, /^\+\s+redacted: sha256:[0-9a-f]{16}$/m);
    for (const output of [run.stdout, run.stderr]) {
      assert.doesNotMatch(output, /PRIVATE KEY/);
      assert.ok(!output.includes(rotated.keyBody) && !output.includes(publishedKeyBody), "no key material");
    }
  });

  test("--labels picks gateways by pod labels; errors a person can act on", async () => {
    const none = await pilotfish("compile", "-f", applied, "--diff", "--kubeconfig", kubeconfig, "--labels", "istio=other-gateway");
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no gateway Deployment \(label pilotfish\.io\/gateway=true and pod labels istio=other-gateway\) in the cluster/);
    const bad = join(work, "unreachable.kubeconfig");
    writeFileSync(
      bad,
      dump({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "c", cluster: { server: `https://127.0.0.1:${await freePort()}`, "insecure-skip-tls-verify": true } }],
        users: [{ name: "u", user: { token: "x" } }],
        contexts: [{ name: "c", context: { cluster: "c", user: "u" } }],
        "current-context": "c",
      }),
    );
    const unreachable = await pilotfish("compile", "-f", applied, "--diff", "--kubeconfig", bad);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot read the cluster at https:\/\/127\.0\.0\.1:\d+ \(kubeconfig: .*unreachable\.kubeconfig\)/);
    const sidecar = await pilotfish("compile", "-f", applied, "--diff", "--proxy", "sidecar", "--labels", "app=web", "--kubeconfig", kubeconfig);
    assert.equal(sidecar.code, 1);
    assert.match(sidecar.stderr, /sidecars get their config over ADS only/);
  });
});
