/**
 * istiod's virtual host collapsing (gateway.go `collapseDuplicateRoutes`): hosts with identical
 * routes share one virtual host. Measured at 1,000 VirtualServices with two hosts and five rules
 * each; the size without collapsing is the same config with each virtual host split per domain.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { compileGateway } from "../../../src/compile/compile.js";
import { collapseVirtualHosts } from "../../../src/compile/virtual-hosts.js";
import type { EnvoyJson } from "../../../src/envoy/resources.js";
import { defaultIngressGatewayProxy } from "../../../src/model/proxy.js";
import { parseManifests } from "../../../src/model/manifests.js";
import { buildSnapshot } from "../../../src/model/snapshot.js";

test("collapsing: same routes → one virtual host named after the first host; different require_tls → not merged", () => {
  const routes = [{ match: { prefix: "/" }, route: { cluster: "c" } }];
  const merged = collapseVirtualHosts([
    { name: "eu.example:80", domains: ["eu.example"], routes },
    { name: "fr.example:80", domains: ["fr.example"], routes: [{ match: { prefix: "/x" }, route: { cluster: "c" } }] },
    { name: "uk.example:80", domains: ["uk.example"], routes },
    { name: "us.example:80", domains: ["us.example"], routes, require_tls: "ALL" },
  ]);
  assert.deepEqual(
    merged.map((host) => [host.name, host.domains]),
    [
      ["eu.example:80", ["eu.example", "uk.example"]],
      ["fr.example:80", ["fr.example"]],
      ["us.example:80", ["us.example"]],
    ],
  );
});

test("1,000 VirtualServices × 2 hosts: half the virtual hosts and a smaller route config", () => {
  const docs: string[] = [
    `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]`,
    `apiVersion: v1
kind: Service
metadata: {name: backend, namespace: shop}
spec: {ports: [{name: http, port: 80}]}`,
  ];
  for (let i = 0; i < 1000; i += 1) {
    docs.push(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs-${i}, namespace: shop}
spec:
  hosts: [eu-${i}.example.com, uk-${i}.example.com]
  gateways: [gw]
  http:
${[1, 2, 3, 4].map((n) => `  - match: [{uri: {prefix: /p${n}}}]\n    route: [{destination: {host: backend}}]`).join("\n")}
  - route: [{destination: {host: backend}}]`);
  }
  const result = compileGateway(buildSnapshot(parseManifests([docs.join("\n---\n")], "shop").inputs), defaultIngressGatewayProxy);
  const config = result.resources.routes[0];
  assert.ok(config);
  const hosts = config.virtual_hosts as EnvoyJson[];
  assert.equal(hosts.length, 1000);
  const split = {
    ...config,
    virtual_hosts: hosts.flatMap((host) => (host.domains as string[]).map((domain) => ({ ...host, name: `${domain}:80`, domains: [domain] }))),
  };
  const collapsedBytes = JSON.stringify(config).length;
  const splitBytes = JSON.stringify(split).length;
  console.log(`route config at 1,000 VirtualServices × 2 hosts × 5 routes: ${collapsedBytes} bytes collapsed, ${splitBytes} bytes one virtual host per host (${Math.round((100 * (splitBytes - collapsedBytes)) / splitBytes)} % saved)`);
  assert.ok(collapsedBytes < splitBytes * 0.55);
});
