/**
 * `pilotfish compile`'s proxy flags as a process: --labels picks the gateway (its Service's
 * namespace, name and targetPorts), --proxy sidecar compiles a workload's sidecar, and --layout
 * writes the files a gateway pod reads — proven by a real Envoy started on exactly those files
 * (listener address moved to loopback) routing a request to a local httpbin.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { load } from "js-yaml";
import { startEnvoy } from "../../support/envoy.js";
import type { Envoy } from "../../support/envoy.js";
import { freePort, httpRequest, waitFor } from "../../support/net.js";
import { repoRoot } from "../../support/paths.js";
import { startHttpbin } from "../../support/upstreams/index.js";
import type { Httpbin } from "../../support/upstreams/index.js";
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

type Named = { name?: string; [key: string]: unknown };
const names = (list: Named[]): (string | undefined)[] => list.map((item) => item.name);

describe("pilotfish compile --labels, --proxy, --layout", () => {
  let dir: string;
  let httpbin: Httpbin;
  let envoy: Envoy | undefined;
  let listenPort: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "pilotfish-compile-flags-"));
    httpbin = await startHttpbin({ name: "web" });
    listenPort = await freePort();
    writeFileSync(
      join(dir, "manifests.yaml"),
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge-gw, namespace: shop }
spec:
  selector: { istio: edge }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["edge.example.com"]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: default-gw, namespace: shop }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["default.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web, namespace: shop }
spec:
  hosts: ["edge.example.com", "default.example.com", "web.shop.svc.cluster.local"]
  gateways: [edge-gw, default-gw, mesh]
  http:
  - route: [{ destination: { host: web.shop.svc.cluster.local, port: { number: 80 } } }]
---
apiVersion: v1
kind: Service
metadata: { name: edge-ingress, namespace: edge-system }
spec:
  selector: { istio: edge }
  ports: [{ name: http, port: 80, targetPort: ${listenPort} }]
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec:
  selector: { app: web }
  clusterIP: 198.18.0.20
  ports: [{ name: http, port: 80, targetPort: 8000 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, namespace: shop, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: ${httpbin.port} }]
endpoints: [{ addresses: [127.0.0.1], conditions: { ready: true } }]
`,
    );
  });

  after(async () => {
    await envoy?.stop();
    await httpbin?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("--labels: the gateway whose pods carry the labels, on its Service's targetPort", async () => {
    const run = await pilotfish("compile", "-f", join(dir, "manifests.yaml"), "--labels", "istio=edge");
    assert.equal(run.code, 0, run.stderr);
    const config = JSON.parse(run.stdout) as { listeners: Named[]; routes: { virtual_hosts: { domains: string[] }[] }[] };
    assert.deepEqual(names(config.listeners), [`0.0.0.0_${listenPort}`]);
    assert.deepEqual(config.routes.flatMap((route) => route.virtual_hosts.flatMap((host) => host.domains)), ["edge.example.com"]);
    const defaults = JSON.parse((await pilotfish("compile", "-f", join(dir, "manifests.yaml"))).stdout) as { routes: { virtual_hosts: { domains: string[] }[] }[] };
    assert.deepEqual(defaults.routes.flatMap((route) => route.virtual_hosts.flatMap((host) => host.domains)), ["default.example.com"]);
    const bad = await pilotfish("compile", "-f", join(dir, "manifests.yaml"), "--labels", "istio");
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--labels "istio": expected key=value, e\.g\. --labels app=webapp/);
  });

  test("--proxy sidecar --labels: the workload's sidecar (outbound, inbound on its Service's targetPort)", async () => {
    const run = await pilotfish("compile", "-f", join(dir, "manifests.yaml"), "--proxy", "sidecar", "--labels", "app=web", "-n", "shop", "-o", "yaml");
    assert.equal(run.code, 0, run.stderr);
    const config = load(run.stdout) as { listeners: Named[]; clusters: Named[] };
    const listeners = names(config.listeners);
    assert.ok(listeners.includes("virtualOutbound") && listeners.includes("virtualInbound") && listeners.includes("0.0.0.0_80"), listeners.join(", "));
    const clusters = names(config.clusters);
    assert.ok(clusters.includes("inbound|8000||"), clusters.join(", "));
    assert.ok(clusters.includes("outbound|80||web.shop.svc.cluster.local"), clusters.join(", "));
    const noLabels = await pilotfish("compile", "-f", join(dir, "manifests.yaml"), "--proxy", "sidecar");
    assert.equal(noLabels.code, 1);
    assert.match(noLabels.stderr, /--proxy sidecar needs --labels: the workload's pod labels/);
    const wrong = await pilotfish("compile", "-f", join(dir, "manifests.yaml"), "--proxy", "waypoint");
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /--proxy waypoint: expected gateway or sidecar/);
  });

  test("--layout: the ConfigMap keys and a bootstrap; a real Envoy serves from exactly those files", async () => {
    const layout = join(dir, "layout");
    const run = await pilotfish("compile", "-f", join(dir, "manifests.yaml"), "--labels", "istio=edge", "--layout", layout);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, new RegExp(`edge-system/edge-ingress: wrote 5 files to ${layout.replaceAll("/", "\\/")}`));
    assert.deepEqual(readdirSync(layout).sort(), ["cds.yaml", "eds.outbound_7c80_7c_7cweb.shop.svc.cluster.local.yaml", "envoy.yaml", "lds.yaml", "rds.http.80.yaml".replace("80", String(listenPort))].sort());
    // Tests bind loopback only: the one edit to the files is the listener address.
    const lds = join(layout, "lds.yaml");
    writeFileSync(lds, readFileSync(lds, "utf8").replaceAll("address: 0.0.0.0", "address: 127.0.0.1"));
    envoy = await startEnvoy({ bootstrap: join(layout, "envoy.yaml"), name: "layout" });
    const response = await waitFor(
      async () => {
        const answer = await httpRequest({ url: `http://127.0.0.1:${listenPort}/from-layout`, headers: { host: "edge.example.com" } }).catch(() => undefined);
        return answer?.status === 200 ? answer : undefined;
      },
      { timeoutMs: 20_000, what: "Envoy on the layout to route" },
    );
    assert.equal(response.headers["x-upstream"], "web");
    assert.equal(httpbin.hits("/from-layout"), 1);
  });
});
