/**
 * The config diff behind `compile --diff` and `run`'s live-edit summaries: unified diffs that
 * `patch` would accept, per-resource changes, the one-line summary, and no private key printed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { diffConfigs, summarize } from "../../../src/cli/diff/resources.js";
import { unifiedDiff } from "../../../src/cli/diff/text.js";
import { compileGateway } from "../../../src/compile/compile.js";
import { defaultIngressGatewayProxy } from "../../../src/model/proxy.js";
import { parseManifests } from "../../../src/model/manifests.js";
import { buildSnapshot } from "../../../src/model/snapshot.js";
import type { EnvoyResources } from "../../../src/envoy/resources.js";

test("unifiedDiff: hunks with context, removals before additions, empty when equal", () => {
  const before = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"].join("\n") + "\n";
  const after = ["a", "b", "c", "d", "E", "f", "g", "h", "i", "j", "k"].join("\n") + "\n";
  assert.equal(unifiedDiff(before, before, { from: "a/x", to: "b/x" }), "");
  assert.equal(
    unifiedDiff(before, after, { from: "a/x", to: "b/x" }, 1),
    ["--- a/x", "+++ b/x", "@@ -4,3 +4,3 @@", " d", "-e", "+E", " f", "@@ -10,1 +10,2 @@", " j", "+k", ""].join("\n"),
  );
  assert.equal(unifiedDiff("", "x\n", { from: "/dev/null", to: "b/x" }), ["--- /dev/null", "+++ b/x", "@@ -0,0 +1,1 @@", "+x", ""].join("\n"));
});

function compile(vsHosts: string[], extraRoute = false, backendPort = 8081): EnvoyResources {
  const manifests = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: shop }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["*.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web, namespace: shop }
spec:
  hosts: [${vsHosts.join(", ")}]
  gateways: [gw]
  http:
${extraRoute ? "  - match: [{ uri: { prefix: /admin } }]\n    route: [{ destination: { host: admin } }]\n" : ""}  - route: [{ destination: { host: web } }]
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, namespace: shop, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: ${backendPort} }]
endpoints: [{ addresses: [127.0.0.1] }]
`;
  return compileGateway(buildSnapshot(parseManifests([manifests]).inputs), defaultIngressGatewayProxy).resources;
}

test("diffConfigs: counts virtual hosts, routes, clusters and endpoints like a person would", () => {
  const before = compile(["a.example.com"]);
  assert.equal(diffConfigs(before, before).summary, "no change");
  assert.deepEqual(diffConfigs(before, before).changes, []);

  const moreHosts = diffConfigs(before, compile(["a.example.com", "b.example.com"]));
  // One VirtualService's hosts share one virtual host (Istio's collapse): its domains change.
  assert.equal(moreHosts.summary, "~1 route config, ~1 virtual host");
  assert.deepEqual(
    moreHosts.changes.map((c) => `${c.change} ${c.kind}/${c.name}`),
    ["changed routes/http.8080"],
  );
  assert.match(moreHosts.changes[0]?.diff ?? "", /^\+\s+- b\.example\.com$/m);

  const newRoute = diffConfigs(before, compile(["a.example.com"], true));
  assert.equal(newRoute.summary, "~1 route config, +1 route");

  const moved = diffConfigs(before, compile(["a.example.com"], false, 9090));
  assert.equal(moved.summary, "+1 endpoint, -1 endpoint");

  const gone = diffConfigs(before, undefined);
  assert.match(gone.summary, /^-1 listener, -1 route config, -1 virtual host, -1 route, -\d+ clusters?, -1 endpoint$/);
  assert.ok(gone.changes.every((c) => c.change === "removed" && c.diff.includes("+++ /dev/null")));
});

test("diffConfigs: private keys never printed, a key change still shows", () => {
  const secret = (key: string): EnvoyResources => ({
    listeners: [],
    routes: [],
    clusters: [],
    endpoints: [],
    secrets: [
      {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
        name: "kubernetes://cred",
        tls_certificate: { certificate_chain: { inline_string: "CERT" }, private_key: { inline_string: key } },
      },
    ],
  });
  const diff = diffConfigs(secret("-----BEGIN PRIVATE KEY-----\nAAAA\n"), secret("-----BEGIN PRIVATE KEY-----\nBBBB\n"));
  assert.equal(diff.summary, "~1 secret");
  const text = diff.changes.map((c) => c.diff).join("\n");
  assert.doesNotMatch(text, /PRIVATE KEY|AAAA|BBBB/);
  assert.match(text, /^-\s+redacted: sha256:[0-9a-f]{16}$/m);
  assert.match(text, /^\+\s+redacted: sha256:[0-9a-f]{16}$/m);
});

test("summarize: order and plurals", () => {
  const zero = { added: 0, removed: 0, changed: 0 };
  assert.equal(
    summarize({
      listener: zero,
      "route config": zero,
      "virtual host": { added: 1, removed: 0, changed: 0 },
      route: { added: 0, removed: 0, changed: 2 },
      cluster: { added: 0, removed: 1, changed: 0 },
      endpoint: zero,
      secret: zero,
    }),
    "+1 virtual host, ~2 routes, -1 cluster",
  );
});
