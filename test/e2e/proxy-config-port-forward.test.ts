/**
 * `pilotfish proxy-config` and `explain` reaching a gateway pod through the Kubernetes API's
 * port-forward (no address given): a real pod on the bench's node running the project's proxy
 * image (Envoy, admin on the pod's 127.0.0.1:15000 only), named as deploy/name.namespace.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { dump } from "js-yaml";
import { startCluster, printClusterStateOnFailure } from "../support/cluster.js";
import type { Cluster } from "../support/cluster.js";
import { repoRoot } from "../support/paths.js";
import { cliNodeArgs } from "../support/cli.js";

const namespace = "pf-test";

function pilotfish(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...cliNodeArgs(), ...args], { cwd: repoRoot, env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
    });
  });
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

  before(async () => {
    cluster = await startCluster({ images: ["proxy"] });
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
    if (!cluster) return;
    await cluster.kubectl(["delete", "namespace", namespace, "--wait=false"]);
    await cluster.stop();
  });

  printClusterStateOnFailure(() => cluster, () => [namespace]);

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
});
