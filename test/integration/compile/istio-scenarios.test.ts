/**
 * Scenarios from Istio's own gateway tests (issue 18), written here in pilotfish's words, with
 * real traffic through a real Envoy. Each fails with the compiler before issue 18.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startHttpbin } from "../../support/upstreams/index.js";
import type { Httpbin } from "../../support/upstreams/index.js";
import { httpRequest, waitFor } from "../../support/net.js";
import { printEnvoyLogOnFailure } from "../../support/envoy.js";
import { serviceManifest, startCompiledGateway } from "./compiled-gateway.js";
import type { CompiledGateway } from "./compiled-gateway.js";

const manifests = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw-1, namespace: ns-1, creationTimestamp: "2024-01-01T00:00:00Z" }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["ns-1/*.example.com"]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw-2, namespace: ns-2, creationTimestamp: "2024-01-02T00:00:00Z" }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["ns-2/*.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: one, namespace: ns-1, creationTimestamp: "2024-01-01T00:00:00Z" }
spec:
  hosts: [ns-1.example.com]
  gateways: [ns-1/gw-1]
  http:
  - match: [{ uri: { prefix: /docs/ } }]
    redirect: { prefixRewrite: /manual/ }
  - match: [{ uri: { prefix: /headers } }]
    headers: { request: { set: { x-who: route } } }
    route: [{ destination: { host: one }, headers: { request: { set: { x-who: destination } } } }]
  - route: [{ destination: { host: one } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: one-extra, namespace: ns-1, creationTimestamp: "2024-01-03T00:00:00Z" }
spec:
  hosts: [ns-1.example.com]
  gateways: [ns-1/gw-1]
  http:
  - match: [{ uri: { prefix: /extra } }]
    route: [{ destination: { host: extra } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: two, namespace: ns-2 }
spec:
  hosts: [ns-2.example.com]
  gateways: [ns-2/gw-2]
  http: [{ route: [{ destination: { host: two } }] }]
`;

describe("Istio's gateway scenarios through a real Envoy", () => {
  let gateway: CompiledGateway | undefined;
  let one: Httpbin | undefined;
  let two: Httpbin | undefined;
  let extra: Httpbin | undefined;
  printEnvoyLogOnFailure(() => [gateway?.envoy]);
  const get = (host: string, path: string, headers: Record<string, string> = {}) =>
    httpRequest({ url: gateway!.url(80, path), headers: { host, ...headers }, timeoutMs: 10_000 });

  before(async () => {
    one = await startHttpbin({ host: "127.0.0.91", name: "one" });
    two = await startHttpbin({ host: "127.0.0.92", name: "two" });
    extra = await startHttpbin({ host: "127.0.0.93", name: "extra" });
    gateway = await startCompiledGateway({
      name: "istio-scenarios",
      manifests: [manifests, serviceManifest("one", "ns-1", 80, [one]), serviceManifest("two", "ns-2", 80, [two]), serviceManifest("extra", "ns-1", 80, [extra])],
    });
    await waitFor(async () => ((await get("ns-1.example.com", "/")).status === 200 ? true : undefined), { timeoutMs: 15_000 });
  });
  after(async () => {
    await gateway?.stop();
    await one?.close();
    await two?.close();
    await extra?.close();
  });

  test("two HTTP servers for *.example.com in two namespaces: each namespace's host reaches its own service", async () => {
    assert.equal((await get("ns-1.example.com", "/")).headers["x-upstream"], "one");
    const response = await get("ns-2.example.com", "/");
    assert.equal(response.status, 200, "the second server was dropped as a duplicate");
    assert.equal(response.headers["x-upstream"], "two");
  });

  test("redirect.prefixRewrite keeps the rest of the path", async () => {
    const response = await get("ns-1.example.com", "/docs/install/linux?x=1");
    assert.equal(response.status, 301);
    assert.equal(response.headers.location, "http://ns-1.example.com/manual/install/linux?x=1");
  });

  test("a catch-all of one VirtualService goes after another VirtualService's routes for the host", async () => {
    const response = await get("ns-1.example.com", "/extra/page");
    assert.equal(response.headers["x-upstream"], "extra");
  });

  test("rule and destination set the same request header: the destination's value reaches the upstream", async () => {
    one!.resetHits();
    await get("ns-1.example.com", "/headers");
    assert.equal(one!.requests.at(-1)?.headers["x-who"], "destination");
  });
});
