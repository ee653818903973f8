/**
 * The CLI reaching pods through the Kubernetes API's port-forward (no address given), on the
 * bench's node:
 * - `proxy-config` and `explain`: a gateway pod running the project's proxy image (Envoy, admin on
 *   the pod's 127.0.0.1:15000 only), named as deploy/name.namespace;
 * - `proxy-status`: the operator installed from the chart (two replicas, ADS on), each
 *   replica's /debug/syncz (on the pod's loopback) read through its own port-forward and merged.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { dump } from "js-yaml";
import { chartDir } from "../../scripts/generate-config/render.js";
import { runCli } from "../support/cli.js";
import { startCluster, printClusterStateOnFailure } from "../support/cluster.js";
import type { Cluster } from "../support/cluster.js";
import { waitFor } from "../support/net.js";
import { helmFor } from "./support/helm.js";

const namespace = "pf-test";
const releaseNs = "istio-system";
const operatorSelector = "app.kubernetes.io/name=pilotfish,app.kubernetes.io/component=operator";

function pilotfish(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(args, { env: { ...process.env, ...env } });
}

const bootstrap = {
  admin: { address: { socket_address: { address: "127.0.0.1", port_value: 15000 } } },
  static_resources: {
    listeners: [
      {
        name: "0.0.0.0_8080",
        address: { socket_address: { address: "0.0.0.0", port_value: 8080 } },
        filter_chains: [
          {
            filters: [
              {
                name: "envoy.filters.network.http_connection_manager",
                typed_config: {
                  "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                  stat_prefix: "pf",
                  route_config: { name: "http.8080", virtual_hosts: [{ name: "shop.example:80", domains: ["shop.example"], routes: [{ match: { prefix: "/hello" }, direct_response: { status: 200, body: { inline_string: "hello" } } }] }] },
                  http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                },
              },
            ],
          },
        ],
      },
    ],
  },
};

describe("proxy-config and explain through the Kubernetes API's port-forward", { timeout: 600_000 }, () => {
  let cluster: Cluster;
  let helmHome = "";

  before(async () => {
    cluster = await startCluster({ images: ["operator", "proxy"] });
    helmHome = mkdtempSync(join(tmpdir(), "pilotfish-e2e-helm-"));
    await cluster.kubectlOk(["create", "namespace", namespace]);
    const manifests = [
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "gw-bootstrap", namespace }, data: { "envoy.yaml": dump(bootstrap) } },
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "gw", namespace },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: "gw" } },
          template: {
            metadata: { labels: { app: "gw" } },
            spec: {
              containers: [{ name: "envoy", image: cluster.images.proxy, imagePullPolicy: "Never", args: ["-c", "/etc/envoy/envoy.yaml"], volumeMounts: [{ name: "config", mountPath: "/etc/envoy" }] }],
              volumes: [{ name: "config", configMap: { name: "gw-bootstrap" } }],
            },
          },
        },
      },
    ];
    await cluster.kubectlOk(["apply", "-f", "-"], { input: manifests.map((doc) => dump(doc)).join("---\n") });
    await cluster.kubectlOk(["rollout", "status", "deployment/gw", "--timeout=180s"], { namespace });
  });

  after(async () => {
    if (cluster) {
      // One node may serve several files (make e2e): the release and its namespace go, so the
      // chart's own test installs on a clean istio-system (the CRDs stay, as helm keeps them).
      if (helmHome) await helmFor(cluster.kubeconfigPath, helmHome)(["uninstall", "pilotfish", "--namespace", releaseNs, "--wait"]).catch(() => undefined);
      await cluster.kubectl(["delete", "namespace", releaseNs, "--ignore-not-found", "--timeout=120s"]);
      await cluster.kubectl(["delete", "namespace", namespace, "--wait=false"]);
    }
    if (helmHome) rmSync(helmHome, { recursive: true, force: true });
    if (!cluster) return;
    await cluster.stop();
  });

  printClusterStateOnFailure(() => cluster, () => [namespace, releaseNs]);

  it("proxy-config routes deploy/gw.pf-test reads the pod's Envoy admin; explain --proxy traces the same config", async () => {
    const env = { KUBECONFIG: cluster.kubeconfigPath };
    const routes = await pilotfish(env, "proxy-config", "routes", `deploy/gw.${namespace}`);
    assert.equal(routes.code, 0, routes.stderr);
    assert.match(routes.stdout, /http\.8080\s+shop\.example:80\s+shop\.example\s+\/hello\*/);
    const explained = await pilotfish(env, "explain", "--proxy", `deploy/gw.${namespace}`, "--host", "shop.example", "--path", "/hello", "--port", "8080", "-o", "json");
    assert.equal(explained.code, 0, explained.stderr);
    const result = JSON.parse(explained.stdout) as { verdict: string; status?: number };
    assert.deepEqual([result.verdict, result.status], ["direct_response", 200]);
    const missing = await pilotfish(env, "proxy-config", "routes", `deploy/nope.${namespace}`);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Deployment pf-test\/nope not found/);
  });

  it("proxy-status with no address reads every operator pod of the chart's Deployment through port-forward", async () => {
    const helm = helmFor(cluster.kubeconfigPath, helmHome);
    // ADS on: the operator serves /debug/syncz on its pod's 127.0.0.1:15011 only.
    await helm(["install", "pilotfish", chartDir, "--namespace", releaseNs, "--create-namespace", "--set", "xds.enabled=true", "--wait", "--timeout", "5m"]);
    await cluster.kubectlOk(["wait", "--for=condition=Ready", "pod", "-l", operatorSelector, "--timeout=180s"], { namespace: releaseNs });
    const pods = (await cluster.kubectlOk(["get", "pods", "-l", operatorSelector, "-o", "jsonpath={.items[*].metadata.name}"], { namespace: releaseNs })).split(" ").filter(Boolean).sort();
    assert.ok(pods.length >= 2, `the chart runs several operator replicas (${pods.join(", ")})`);
    const env = { KUBECONFIG: cluster.kubeconfigPath };
    type Status = { operators: Array<{ pod: string; server?: { instance?: string } }>; proxies: unknown[] };
    let last = "";
    const status = await waitFor(
      async () => {
        const run = await pilotfish(env, "proxy-status", "-o", "json", "--verbose");
        last = `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`;
        return run.code === 0 ? { parsed: JSON.parse(run.stdout) as Status, stderr: run.stderr } : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 2_000, what: "proxy-status reading the operator pods" },
    ).catch((error: unknown) => {
      throw new Error(`${error instanceof Error ? error.message : String(error)}; last run: ${last}`);
    });
    // Every replica serves ADS, so every Running pod is read (as istioctl reads every istiod).
    assert.deepEqual(status.parsed.operators.map((operator) => operator.pod).sort(), pods, "every Running operator pod was read");
    assert.ok(status.parsed.operators.every((operator) => (operator.server?.instance ?? "") !== ""), "each answered with its own /debug/syncz");
    assert.match(status.stderr, /port-forward|reading \/debug\/syncz from istio-system\//, "--verbose reports the phases on stderr; stdout stayed JSON");
    const table = await pilotfish(env, "proxy-status");
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NAME\s+CLUSTER\s+CDS\s+LDS\s+EDS\s+RDS\s+SDS\s+ECDS\s+ISTIOD\s+VERSION/);
    const notConnected = await pilotfish(env, "proxy-status", "nobody.istio-system");
    assert.equal(notConnected.code, 1);
    assert.match(notConnected.stderr, /proxy nobody\.istio-system is not connected to the operator at deploy\/pilotfish\.istio-system/);
    const wrong = await pilotfish(env, "proxy-status", "--operator", "deploy/nope.istio-system");
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /Deployment istio-system\/nope not found/);
  });
});
