/**
 * Request matching, CORS, fault delay, DestinationRule subsets and VirtualService binding through
 * a real Envoy on the compiled config: every case sends requests that must match (asserting which
 * upstream answered via `x-upstream`) and requests that must not (404 from the gateway).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { dump } from "js-yaml";
import { startHttpbin } from "../../support/upstreams/index.js";
import type { Httpbin } from "../../support/upstreams/index.js";
import { httpRequest, waitFor } from "../../support/net.js";
import type { HttpResponse } from "../../support/net.js";
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
    hosts: ["*/*.example.com", "./gwns.example.org"]
  - port: { number: 8080, name: http-alt, protocol: HTTP }
    hosts: ["*/*.example.com"]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: other-gw, namespace: demo }
spec:
  selector: { istio: some-other-gateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["*"]
`;

const matchingYaml = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: matching, namespace: demo }
spec:
  hosts: [match.example.com, alt.example.com]
  gateways: [gw]
  http:
  - match: [{ uri: { exact: /exact } }]
    route: [{ destination: { host: alpha } }]
  - match: [{ uri: { prefix: /prefix } }]
    route: [{ destination: { host: beta } }]
  - match: [{ uri: { regex: "/items/[0-9]+" }, ignoreUriCase: true }]
    route: [{ destination: { host: alpha } }]
  - match: [{ uri: { exact: /CaseLess }, ignoreUriCase: true }, { uri: { prefix: /nocase-prefix }, ignoreUriCase: true }]
    route: [{ destination: { host: beta } }]
  - match: [{ uri: { prefix: /method }, method: { exact: POST } }]
    route: [{ destination: { host: beta } }]
  - match: [{ uri: { prefix: /authority }, authority: { exact: alt.example.com } }]
    route: [{ destination: { host: beta } }]
  - match: [{ uri: { prefix: /scheme/secure }, scheme: { exact: https } }]
    route: [{ destination: { host: beta } }]
  - match: [{ uri: { prefix: /scheme/plain }, scheme: { exact: http } }]
    route: [{ destination: { host: alpha } }]
  - match: [{ uri: { prefix: /query }, queryParams: { debug: { exact: "1" }, trace: { regex: "^[a-z]+$" } } }]
    route: [{ destination: { host: beta } }]
  - match: [{ uri: { prefix: /without }, withoutHeaders: { x-block: { prefix: "yes" } } }]
    route: [{ destination: { host: beta } }]
  - match: [{ uri: { prefix: /port }, port: 8080 }]
    route: [{ destination: { host: beta } }]
`;

const bindingYaml = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: unbound, namespace: demo }
spec:
  hosts: [unbound.example.com]
  gateways: [other-gw]
  http: [{ route: [{ destination: { host: alpha } }] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: mesh-only, namespace: demo }
spec:
  hosts: [mesh.example.com]
  http: [{ route: [{ destination: { host: alpha } }] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: private, namespace: team }
spec:
  hosts: [private.example.com]
  gateways: [demo/gw]
  exportTo: ["."]
  http: [{ route: [{ destination: { host: alpha.demo.svc.cluster.local } }] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: exported, namespace: team }
spec:
  hosts: [team.example.com]
  gateways: [demo/gw]
  exportTo: [istio-system]
  http: [{ route: [{ destination: { host: beta.demo.svc.cluster.local } }] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: gateway-namespace, namespace: demo }
spec:
  hosts: [gwns.example.org]
  gateways: [gw]
  http: [{ match: [{ uri: { prefix: /demo } }], route: [{ destination: { host: alpha } }] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: other-namespace, namespace: team }
spec:
  hosts: [gwns.example.org]
  gateways: [demo/gw]
  http: [{ match: [{ uri: { prefix: /team } }], route: [{ destination: { host: beta.demo.svc.cluster.local } }] }]
`;

const featuresYaml = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: cors, namespace: demo }
spec:
  hosts: [cors.example.com]
  gateways: [gw]
  http:
  - corsPolicy:
      allowOrigins: [{ exact: "https://good.example" }, { regex: "https://.*\\\\.trusted\\\\.example" }]
      allowMethods: [GET, POST]
      allowHeaders: [x-custom]
      exposeHeaders: [x-exposed]
      maxAge: 1h
      allowCredentials: true
    route: [{ destination: { host: alpha } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: fault, namespace: demo }
spec:
  hosts: [fault.example.com]
  gateways: [gw]
  http:
  - match: [{ uri: { prefix: /slow } }]
    fault: { delay: { fixedDelay: 1s, percentage: { value: 100 } } }
    route: [{ destination: { host: alpha } }]
  - match: [{ uri: { prefix: /never-delayed } }]
    fault: { delay: { fixedDelay: 5s, percentage: { value: 0 } } }
    route: [{ destination: { host: alpha } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: subsets, namespace: demo }
spec:
  hosts: [subsets.example.com]
  gateways: [gw]
  http:
  - match: [{ uri: { prefix: /v1 } }]
    route: [{ destination: { host: catalog, subset: v1 } }]
  - route: [{ destination: { host: catalog, subset: v2 } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: catalog, namespace: demo }
spec:
  host: catalog
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2 } }
`;

function podManifest(name: string, namespace: string, ip: string, labels: Record<string, string>): string {
  return dump({ apiVersion: "v1", kind: "Pod", metadata: { name, namespace, labels }, status: { podIP: ip, podIPs: [{ ip }] } });
}

describe("HTTP matching, CORS, fault delay, subsets and binding through a real Envoy", () => {
  let gateway: CompiledGateway | undefined;
  let alpha: Httpbin | undefined;
  let beta: Httpbin | undefined;
  let catalogV1: Httpbin | undefined;
  let catalogV2: Httpbin | undefined;
  printEnvoyLogOnFailure(() => [gateway?.envoy]);

  const request = (host: string, path: string, options: { method?: string; headers?: Record<string, string>; serverPort?: number } = {}): Promise<HttpResponse> =>
    httpRequest({
      url: gateway!.url(options.serverPort ?? 80, path),
      method: options.method ?? "GET",
      headers: { host, ...options.headers },
      timeoutMs: 10_000,
    });
  /** The upstream that answered, or the status when the gateway answered itself. */
  const answeredBy = async (host: string, path: string, options: Parameters<typeof request>[2] = {}): Promise<string> => {
    const response = await request(host, path, options);
    return response.headers["x-upstream"] ?? String(response.status);
  };

  before(async () => {
    alpha = await startHttpbin({ host: "127.0.0.81", name: "alpha" });
    beta = await startHttpbin({ host: "127.0.0.82", name: "beta" });
    catalogV1 = await startHttpbin({ host: "127.0.0.83", name: "catalog-v1" });
    catalogV2 = await startHttpbin({ host: "127.0.0.84", name: "catalog-v2", port: catalogV1.port });
    gateway = await startCompiledGateway({
      name: "matching",
      serverPorts: [80, 8080],
      manifests: [
        gatewayYaml,
        matchingYaml,
        bindingYaml,
        featuresYaml,
        serviceManifest("alpha", "demo", 80, [alpha]),
        serviceManifest("beta", "demo", 80, [beta]),
        serviceManifest("catalog", "demo", 80, [catalogV1, catalogV2]),
        podManifest("catalog-v1", "demo", catalogV1.host, { app: "catalog", version: "v1" }),
        podManifest("catalog-v2", "demo", catalogV2.host, { app: "catalog", version: "v2" }),
      ],
    });
    await waitFor(async () => ((await request("match.example.com", "/exact")).status === 200 ? true : undefined), { timeoutMs: 15_000 });
  });
  after(async () => {
    await gateway?.stop();
    for (const upstream of [alpha, beta, catalogV1, catalogV2]) await upstream?.close();
  });

  test("uri exact matches only the exact path; no match → 404", async () => {
    assert.equal(await answeredBy("match.example.com", "/exact"), "alpha");
    assert.equal(await answeredBy("match.example.com", "/exact?q=1"), "alpha", "the query is not part of the path");
    assert.equal(await answeredBy("match.example.com", "/exact/more"), "404");
    assert.equal(await answeredBy("match.example.com", "/exac"), "404");
    assert.equal(await answeredBy("match.example.com", "/EXACT"), "404", "case-sensitive without ignoreUriCase");
    assert.equal(await answeredBy("match.example.com", "/nothing"), "404");
  });

  test("uri prefix matches the prefix and longer paths, not shorter or different-case ones", async () => {
    assert.equal(await answeredBy("match.example.com", "/prefix"), "beta");
    assert.equal(await answeredBy("match.example.com", "/prefix/a/b"), "beta");
    assert.equal(await answeredBy("match.example.com", "/prefixed"), "beta", "Istio prefix is a string prefix");
    assert.equal(await answeredBy("match.example.com", "/pre"), "404");
    assert.equal(await answeredBy("match.example.com", "/PREFIX"), "404");
  });

  test("uri regex matches the whole path; ignoreUriCase does not apply to regex (Istio: exact and prefix only)", async () => {
    assert.equal(await answeredBy("match.example.com", "/items/42"), "alpha");
    assert.equal(await answeredBy("match.example.com", "/items/42/x"), "404", "full match, not a search");
    assert.equal(await answeredBy("match.example.com", "/items/abc"), "404");
    assert.equal(await answeredBy("match.example.com", "/ITEMS/42"), "404");
  });

  test("ignoreUriCase on exact and prefix", async () => {
    assert.equal(await answeredBy("match.example.com", "/caseless"), "beta");
    assert.equal(await answeredBy("match.example.com", "/CASELESS"), "beta");
    assert.equal(await answeredBy("match.example.com", "/caseless/x"), "404");
    assert.equal(await answeredBy("match.example.com", "/NoCase-Prefix/deep"), "beta");
  });

  test("method", async () => {
    assert.equal(await answeredBy("match.example.com", "/method", { method: "POST" }), "beta");
    assert.equal(await answeredBy("match.example.com", "/method", { method: "GET" }), "404");
    assert.equal(await answeredBy("match.example.com", "/method", { method: "PUT" }), "404");
  });

  test("authority", async () => {
    assert.equal(await answeredBy("alt.example.com", "/authority"), "beta");
    assert.equal(await answeredBy("match.example.com", "/authority"), "404");
  });

  test("scheme: plain HTTP is http, never https", async () => {
    assert.equal(await answeredBy("match.example.com", "/scheme/plain"), "alpha");
    assert.equal(await answeredBy("match.example.com", "/scheme/secure"), "404");
  });

  test("queryParams: every listed parameter must match", async () => {
    assert.equal(await answeredBy("match.example.com", "/query?debug=1&trace=abc"), "beta");
    assert.equal(await answeredBy("match.example.com", "/query?trace=abc&x=y&debug=1"), "beta");
    assert.equal(await answeredBy("match.example.com", "/query?debug=2&trace=abc"), "404");
    assert.equal(await answeredBy("match.example.com", "/query?debug=1&trace=ABC"), "404");
    assert.equal(await answeredBy("match.example.com", "/query?debug=1"), "404");
    assert.equal(await answeredBy("match.example.com", "/query"), "404");
  });

  test("withoutHeaders: a matching header excludes the request; a different value or an absent header matches (like istiod)", async () => {
    assert.equal(await answeredBy("match.example.com", "/without", { headers: { "x-block": "yes-please" } }), "404");
    assert.equal(await answeredBy("match.example.com", "/without", { headers: { "x-block": "no" } }), "beta");
    // istiod sets treat_missing_header_as_empty on inverted value matches since istio/istio#49540
    // (fixing #49537): a request without the header is not excluded.
    assert.equal(await answeredBy("match.example.com", "/without"), "beta");
  });

  test("match.port: the rule applies on the 8080 server only", async () => {
    assert.equal(await answeredBy("match.example.com", "/port", { serverPort: 8080 }), "beta");
    assert.equal(await answeredBy("match.example.com", "/port", { serverPort: 80 }), "404");
    // Rules without a port apply on both servers.
    assert.equal(await answeredBy("match.example.com", "/exact", { serverPort: 8080 }), "alpha");
  });

  test("CORS: an allowed origin's preflight gets the policy; a disallowed origin gets none", async () => {
    alpha!.resetHits();
    const preflight = await request("cors.example.com", "/resource", {
      method: "OPTIONS",
      headers: { origin: "https://good.example", "access-control-request-method": "POST", "access-control-request-headers": "x-custom" },
    });
    assert.equal(preflight.status, 200);
    assert.equal(preflight.headers["access-control-allow-origin"], "https://good.example");
    assert.equal(preflight.headers["access-control-allow-methods"], "GET,POST");
    assert.equal(preflight.headers["access-control-allow-headers"], "x-custom");
    assert.equal(preflight.headers["access-control-max-age"], "3600");
    assert.equal(preflight.headers["access-control-allow-credentials"], "true");
    assert.equal(alpha!.hits("/resource"), 0, "Envoy answers an allowed preflight itself");

    const regexOrigin = await request("cors.example.com", "/resource", {
      method: "OPTIONS",
      headers: { origin: "https://app.trusted.example", "access-control-request-method": "GET" },
    });
    assert.equal(regexOrigin.headers["access-control-allow-origin"], "https://app.trusted.example");

    const denied = await request("cors.example.com", "/resource", {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    assert.equal(denied.headers["access-control-allow-origin"], undefined);
    assert.equal(denied.headers["access-control-allow-methods"], undefined);

    const simple = await request("cors.example.com", "/resource", { headers: { origin: "https://good.example" } });
    assert.equal(simple.headers["x-upstream"], "alpha");
    assert.equal(simple.headers["access-control-allow-origin"], "https://good.example");
    assert.equal(simple.headers["access-control-expose-headers"], "x-exposed");
    const simpleDenied = await request("cors.example.com", "/resource", { headers: { origin: "https://evil.example" } });
    assert.equal(simpleDenied.headers["x-upstream"], "alpha", "CORS does not block the request itself");
    assert.equal(simpleDenied.headers["access-control-allow-origin"], undefined);
  });

  test("fault delay 1s at 100%: the upstream sees the request only after the delay", async () => {
    const delayMs = 1000;
    alpha!.resetHits();
    const started = performance.now();
    const pending = request("fault.example.com", "/slow");
    // Lower bounds only: a slow machine only makes the request arrive later.
    await new Promise((resolve) => setTimeout(resolve, delayMs / 2));
    assert.equal(alpha!.hits("/slow"), 0, "not yet forwarded half-way through the delay");
    const response = await pending;
    const elapsed = performance.now() - started;
    assert.equal(response.headers["x-upstream"], "alpha");
    assert.equal(alpha!.hits("/slow"), 1);
    assert.ok(elapsed >= 0.8 * delayMs, `answered after ${elapsed.toFixed(0)} ms`);

    const quick = performance.now();
    assert.equal(await answeredBy("fault.example.com", "/never-delayed"), "alpha");
    // 0% of requests are delayed; the bound is loose so that only a 5 s delay would fail it.
    assert.ok(performance.now() - quick < 4000);
  });

  test("DestinationRule subsets: v2 only reaches the v2 pod, v1 only the v1 pod", async () => {
    catalogV1!.resetHits();
    catalogV2!.resetHits();
    for (let i = 0; i < 8; i++) assert.equal(await answeredBy("subsets.example.com", "/catalog"), "catalog-v2");
    for (let i = 0; i < 4; i++) assert.equal(await answeredBy("subsets.example.com", "/v1/catalog"), "catalog-v1");
    assert.equal(catalogV1!.hits("/catalog"), 0);
    assert.equal(catalogV2!.hits("/v1/catalog"), 0);
  });

  test("binding: unbound, mesh-only and unexported VirtualServices are not served; exported ones are", async () => {
    assert.equal(await answeredBy("unbound.example.com", "/"), "404");
    assert.equal(await answeredBy("mesh.example.com", "/"), "404");
    assert.equal(await answeredBy("private.example.com", "/"), "404");
    assert.equal(await answeredBy("team.example.com", "/"), "beta");
  });

  test("server host ./h accepts VirtualServices from the Gateway's namespace only", async () => {
    assert.equal(await answeredBy("gwns.example.org", "/demo"), "alpha");
    assert.equal(await answeredBy("gwns.example.org", "/team"), "404");
    // ./h is not on the 8080 server.
    assert.equal(await answeredBy("gwns.example.org", "/demo", { serverPort: 8080 }), "404");
  });
});
