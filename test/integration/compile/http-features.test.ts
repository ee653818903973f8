import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startHttpbin } from "../../support/upstreams/index.js";
import type { Httpbin } from "../../support/upstreams/index.js";
import { httpRequest, waitFor } from "../../support/net.js";
import { printEnvoyLogOnFailure } from "../../support/envoy.js";
import { serviceManifest, startCompiledGateway } from "./compiled-gateway.js";
import type { CompiledGateway } from "./compiled-gateway.js";

const gatewayYaml = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: demo }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["demo/*.example.com"]
`;

const virtualServiceYaml = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: features, namespace: demo }
spec:
  hosts: [app.example.com]
  gateways: [gw]
  http:
  - match: [{ uri: { prefix: /delay } }]
    route: [{ destination: { host: primary } }]
    timeout: 1s
  - match: [{ uri: { prefix: /status } }]
    route: [{ destination: { host: primary } }]
    retries: { attempts: 3, retryOn: 5xx }
  - match: [{ uri: { prefix: /old } }]
    redirect: { uri: /new, authority: new.example.com }
  - match: [{ uri: { prefix: /v1/ } }]
    rewrite: { uri: /headers/, authority: rewritten.internal }
    route: [{ destination: { host: primary } }]
  - match: [{ uri: { exact: /hello } }]
    directResponse: { status: 200, body: { string: "hello from the gateway" } }
  - match: [{ uri: { prefix: /teapot } }]
    fault: { abort: { httpStatus: 418, percentage: { value: 100 } } }
    route: [{ destination: { host: primary } }]
  - match: [{ uri: { prefix: /split } }]
    route:
    - { destination: { host: primary }, weight: 50 }
    - { destination: { host: secondary }, weight: 50 }
  - match: [{ uri: { prefix: /mirror } }]
    route: [{ destination: { host: primary } }]
    mirror: { host: secondary }
  - match: [{ headers: { x-beta: { exact: "1" } }, uri: { prefix: /headers } }]
    route: [{ destination: { host: secondary } }]
  - match: [{ uri: { prefix: /headers } }]
    headers:
      request: { set: { x-set: one }, add: { x-add: two }, remove: [x-remove-me] }
      response: { set: { x-resp: three } }
    route: [{ destination: { host: primary } }]
`;

describe("HTTP features through a real Envoy", () => {
  let gateway: CompiledGateway | undefined;
  let primary: Httpbin | undefined;
  let secondary: Httpbin | undefined;
  printEnvoyLogOnFailure(() => [gateway?.envoy]);
  const get = (path: string, headers: Record<string, string> = {}) =>
    httpRequest({ url: gateway!.url(80, path), headers: { host: "app.example.com", ...headers }, timeoutMs: 10_000 });

  before(async () => {
    primary = await startHttpbin({ host: "127.0.0.41", name: "primary" });
    secondary = await startHttpbin({ host: "127.0.0.42", name: "secondary" });
    gateway = await startCompiledGateway({
      name: "features",
      manifests: [gatewayYaml, virtualServiceYaml, serviceManifest("primary", "demo", 80, [primary]), serviceManifest("secondary", "demo", 80, [secondary])],
    });
    await waitFor(async () => ((await get("/hello")).status === 200 ? true : undefined), { timeoutMs: 15_000 });
  });
  after(async () => {
    await gateway?.stop();
    await primary?.close();
    await secondary?.close();
  });

  test("L12 timeout 1s: /delay/0.5 → 200, /delay/1 → 504 upstream request timeout", async () => {
    assert.equal((await get("/delay/0.5")).status, 200);
    const last = primary!.requests.at(-1);
    assert.equal(last?.headers["x-envoy-expected-rq-timeout-ms"], "1000");
    const slow = await get("/delay/1");
    assert.equal(slow.status, 504);
    assert.equal(slow.body, "upstream request timeout");
  });

  test("L12 retries 3 on 5xx: /status/500 reaches the upstream 4 times", async () => {
    const before = (await gateway!.envoy.stat("cluster.outbound|80||primary.demo.svc.cluster.local.upstream_rq_retry")) ?? 0;
    primary!.resetHits();
    assert.equal((await get("/status/500")).status, 500);
    assert.equal(primary!.hits("/status/500"), 4);
    const retries = await waitFor(async () => {
      const value = await gateway!.envoy.stat("cluster.outbound|80||primary.demo.svc.cluster.local.upstream_rq_retry");
      return value !== undefined && value - before === 3 ? value - before : undefined;
    });
    assert.equal(retries, 3);
  });

  test("redirect → 301 with location", async () => {
    const response = await get("/old/page");
    assert.equal(response.status, 301);
    assert.equal(response.headers.location, "http://new.example.com/new");
  });

  test("rewrite: the upstream sees the new path and authority", async () => {
    primary!.resetHits();
    const response = await get("/v1/thing");
    assert.equal(response.status, 200);
    const seen = primary!.requests.at(-1);
    assert.equal(seen?.path, "/headers/thing");
    assert.equal(seen?.headers.host, "rewritten.internal");
  });

  test("directResponse body; fault abort status", async () => {
    const hello = await get("/hello");
    assert.equal(hello.body, "hello from the gateway");
    primary!.resetHits();
    assert.equal((await get("/teapot")).status, 418);
    assert.equal(primary!.totalHits(), 0);
  });

  test("header match and request/response header operations", async () => {
    const beta = await get("/headers", { "x-beta": "1" });
    assert.equal(beta.headers["x-upstream"], "secondary");
    primary!.resetHits();
    const response = await get("/headers", { "x-remove-me": "gone", "x-add": "zero" });
    assert.equal(response.headers["x-resp"], "three");
    const seen = primary!.requests.at(-1);
    assert.equal(seen?.headers["x-set"], "one");
    assert.equal(seen?.headers["x-add"], "zero, two");
    assert.equal(seen?.headers["x-remove-me"], undefined);
  });

  test("weighted split reaches both; mirror reaches the mirror", async () => {
    primary!.resetHits();
    secondary!.resetHits();
    for (let i = 0; i < 30; i++) await get("/split");
    assert.ok(primary!.hits("/split") > 0 && secondary!.hits("/split") > 0, `${primary!.hits("/split")} / ${secondary!.hits("/split")}`);
    assert.equal((await get("/mirror")).headers["x-upstream"], "primary");
    await waitFor(() => (secondary!.hits("/mirror") === 1 ? true : undefined), { timeoutMs: 5000 });
  });
});
