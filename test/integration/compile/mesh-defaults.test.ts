/**
 * istiod's data-plane defaults (compile/mesh.ts) with real traffic through a real Envoy: each test
 * fails with Envoy's own defaults (the compiler before issue 8).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import tls from "node:tls";
import { X509Certificate } from "node:crypto";
import { startHttpbin } from "../../support/upstreams/index.js";
import type { Httpbin } from "../../support/upstreams/index.js";
import { freePort, httpRequest, tcpExchange, waitFor } from "../../support/net.js";
import { printEnvoyLogOnFailure } from "../../support/envoy.js";
import { serviceManifest, startCompiledGateway } from "./compiled-gateway.js";
import type { CompiledGateway } from "./compiled-gateway.js";
import { generatedMaterial, secretManifest } from "./tls-fixtures.js";
import type { TlsMaterial } from "./tls-fixtures.js";

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

const bigBody = "x".repeat(10 * 1024);

const virtualServiceYaml = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: defaults, namespace: demo }
spec:
  hosts: [app.example.com]
  gateways: [gw]
  http:
  - match: [{ uri: { prefix: /big } }]
    directResponse: { status: 200, body: { string: "${bigBody}" } }
  - match: [{ uri: { prefix: /cors-fault } }]
    fault: { abort: { httpStatus: 418, percentage: { value: 100 } } }
    corsPolicy:
      allowOrigins: [{ exact: "https://ui.example.com" }]
      allowMethods: [GET]
    route: [{ destination: { host: primary } }]
  - match: [{ uri: { prefix: /mirror } }]
    route: [{ destination: { host: primary } }]
    mirror: { host: secondary }
  - route: [{ destination: { host: primary } }]
`;

describe("istiod's HTTP defaults through a real Envoy", () => {
  let gateway: CompiledGateway | undefined;
  let primary: Httpbin | undefined;
  let secondary: Httpbin | undefined;
  printEnvoyLogOnFailure(() => [gateway?.envoy]);
  const get = (path: string, headers: Record<string, string> = {}, method = "GET") =>
    httpRequest({ url: gateway!.url(80, path), method, headers: { host: "app.example.com", ...headers }, timeoutMs: 10_000 });

  before(async () => {
    primary = await startHttpbin({ host: "127.0.0.71", name: "primary" });
    secondary = await startHttpbin({ host: "127.0.0.72", name: "secondary" });
    gateway = await startCompiledGateway({
      name: "mesh-defaults",
      manifests: [gatewayYaml, virtualServiceYaml, serviceManifest("primary", "demo", 80, [primary]), serviceManifest("secondary", "demo", 80, [secondary])],
    });
    await waitFor(async () => ((await get("/anything")).status === 200 ? true : undefined), { timeoutMs: 15_000 });
  });
  after(async () => {
    await gateway?.stop();
    await primary?.close();
    await secondary?.close();
  });

  test("Expect: 100-continue reaches the upstream (proxy_100_continue)", async () => {
    primary!.resetHits();
    const request =
      "POST /anything/expect HTTP/1.1\r\nHost: app.example.com\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    const received = await tcpExchange("127.0.0.1", gateway!.port(80), request, { timeoutMs: 10_000, until: () => false });
    assert.match(received, /HTTP\/1\.1 200/);
    const seen = primary!.requests.find((r) => r.path === "/anything/expect");
    assert.equal(seen?.headers.expect, "100-continue", "Envoy answered 100 Continue itself and dropped the header");
  });

  test("a fault abort runs before CORS: a preflight to a faulted route is aborted, the abort carries no CORS headers", async () => {
    const preflight = await get("/cors-fault", { origin: "https://ui.example.com", "access-control-request-method": "GET" }, "OPTIONS");
    assert.equal(preflight.status, 418, "CORS before fault would answer the preflight itself (200)");
    const simple = await get("/cors-fault", { origin: "https://ui.example.com" });
    assert.equal(simple.status, 418);
    assert.equal(simple.headers["access-control-allow-origin"], undefined);
  });

  test("a mirrored request keeps its Host (no -shadow suffix)", async () => {
    secondary!.resetHits();
    assert.equal((await get("/mirror/host")).status, 200);
    const mirrored = await waitFor(async () => secondary!.requests.find((r) => r.path === "/mirror/host"), { timeoutMs: 10_000, what: "the mirrored request" });
    assert.equal(mirrored.headers.host, "app.example.com");
  });

  test("a 10 KiB directResponse body is served (max_direct_response_body_size_bytes 1 MiB)", async () => {
    const response = await get("/big");
    assert.equal(response.status, 200);
    assert.equal(response.body.length, bigBody.length);
  });

  test("a gRPC client's grpc-timeout is honoured (max_grpc_timeout)", async () => {
    // /delay/1 answers after a second; the client allows 200 ms, so Envoy must give up first.
    const response = await get("/delay/1", { "content-type": "application/grpc", "grpc-timeout": "200m" }, "POST");
    assert.equal(response.headers["x-upstream"], undefined, "the upstream's answer came through: grpc-timeout was ignored");
    // Envoy's local 504 in gRPC form: grpc-status 14 (UNAVAILABLE) "upstream request timeout".
    assert.equal(response.headers["grpc-status"], "14");
    assert.match(response.headers["grpc-message"] ?? "", /timeout/);
  });

  test("the upstream sees x-envoy-attempt-count (include_request_attempt_count)", async () => {
    primary!.resetHits();
    await get("/anything/attempt");
    assert.equal(primary!.requests.find((r) => r.path === "/anything/attempt")?.headers["x-envoy-attempt-count"], "1");
  });
});

describe("panic mode off: ejected endpoints get no traffic", () => {
  let gateway: CompiledGateway | undefined;
  let good: Httpbin | undefined;
  const bad: { server: http.Server; hits: number }[] = [];
  printEnvoyLogOnFailure(() => [gateway?.envoy]);

  before(async () => {
    const port = await freePort("127.0.0.81");
    good = await startHttpbin({ host: "127.0.0.81", port, name: "good" });
    for (const host of ["127.0.0.82", "127.0.0.83", "127.0.0.84"]) {
      const entry = { server: http.createServer(), hits: 0 };
      entry.server.on("request", (_request: http.IncomingMessage, response: http.ServerResponse) => {
        entry.hits += 1;
        response.writeHead(503).end();
      });
      await new Promise<void>((resolve) => entry.server.listen(port, host, resolve));
      bad.push(entry);
    }
    const destinationRule = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: pool, namespace: demo }
spec:
  host: pool
  trafficPolicy:
    outlierDetection: { consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 300s, maxEjectionPercent: 100 }
`;
    const vs = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: pool, namespace: demo }
spec:
  hosts: [pool.example.com]
  gateways: [gw]
  http:
  - route: [{ destination: { host: pool } }]
`;
    const upstreams = [good, ...["127.0.0.82", "127.0.0.83", "127.0.0.84"].map((host) => ({ host, port }))];
    gateway = await startCompiledGateway({ name: "panic", manifests: [gatewayYaml, vs, destinationRule, serviceManifest("pool", "demo", 80, upstreams)] });
  });
  after(async () => {
    await gateway?.stop();
    await good?.close();
    for (const entry of bad) await new Promise((resolve) => entry.server.close(resolve));
  });

  test("with 3 of 4 endpoints ejected (below Envoy's 50 % panic threshold), every request goes to the healthy one", async () => {
    const request = () => httpRequest({ url: gateway!.url(80, "/pool"), headers: { host: "pool.example.com" }, timeoutMs: 10_000 });
    // Each bad endpoint is ejected on its first 503.
    await waitFor(
      async () => {
        await request();
        return bad.every((entry) => entry.hits > 0) ? true : undefined;
      },
      { timeoutMs: 30_000, what: "every bad endpoint to answer once" },
    );
    // Envoy hands host-health changes to its workers in batches (common_lb_config.update_merge_window,
    // 1 s by default): wait until 20 requests in a row succeed, which panic mode (3 of 4 endpoints
    // still picked) never gives.
    let streak = 0;
    await waitFor(
      async () => {
        streak = (await request()).status === 200 ? streak + 1 : 0;
        return streak >= 20 ? true : undefined;
      },
      { timeoutMs: 30_000, what: "20 successful requests in a row" },
    );
    const before = bad.map((entry) => entry.hits);
    const statuses: number[] = [];
    for (let i = 0; i < 40; i += 1) statuses.push((await request()).status);
    assert.deepEqual(bad.map((entry) => entry.hits), before, "an ejected endpoint got traffic: Envoy is in panic mode");
    assert.ok(statuses.every((status) => status === 200), `statuses: ${statuses.join(",")}`);
  });
});

describe("gateway TLS: handshake timeout and x-forwarded-client-cert", () => {
  let material: TlsMaterial;
  let webapp: Httpbin | undefined;
  let gateway: CompiledGateway | undefined;
  printEnvoyLogOnFailure(() => [gateway?.envoy]);
  before(async () => {
    material = await generatedMaterial();
    webapp = await startHttpbin({ name: "webapp" });
    gateway = await startCompiledGateway({
      name: "mesh-defaults-tls",
      namespace: "istioinaction",
      serverPorts: [80, 443],
      // A short handshake timeout for the test (Istio's 15 s in production), and access logs on.
      compileOptions: { defaultRetryOn503: false, mesh: { gatewayTransportSocketConnectTimeoutMs: 1000, accessLogFile: "/dev/stdout" } },
      manifests: [
        material.manifest("gw-mtls"),
        material.manifest("coolstore-vs"),
        serviceManifest("webapp", "istioinaction", 80, [webapp]),
        secretManifest("istio-system", "webapp-credential-mtls", {
          "tls.crt": material.webapp.certPem,
          "tls.key": material.webapp.keyPem,
          "ca.crt": material.webapp.caChainPem,
        }),
      ],
    });
  });
  after(async () => {
    await gateway?.stop();
    await webapp?.close();
  });

  const mtlsRequest = () =>
    httpRequest({
      url: `https://127.0.0.1:${gateway!.port(443)}/api/catalog`,
      servername: "webapp.istioinaction.io",
      headers: { host: "webapp.istioinaction.io" },
      ca: material.webapp.caChainPem,
      cert: material.webappClient.certPem,
      key: material.webappClient.keyPem,
    });

  test("the mTLS upstream (L5) receives x-forwarded-client-cert with the client's subject", async () => {
    const response = await waitFor(async () => mtlsRequest().catch(() => undefined), { timeoutMs: 15_000, what: "an mTLS response" });
    assert.equal(response.status, 200);
    const xfcc = webapp!.requests.at(-1)?.headers["x-forwarded-client-cert"];
    assert.equal(typeof xfcc, "string", "no x-forwarded-client-cert upstream");
    const subjectCn = /CN=([^\n,]+)/.exec(new X509Certificate(material.webappClient.certPem).subject)?.[1];
    assert.ok(subjectCn);
    assert.match(String(xfcc), new RegExp(`Subject="[^"]*CN=${subjectCn.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    assert.match(String(xfcc), /Hash=[0-9a-f]+/);
    assert.match(String(xfcc), /Cert="/);
  });

  test("a client that sends its ClientHello and then nothing is closed after the handshake timeout", async () => {
    await waitFor(async () => mtlsRequest().catch(() => undefined), { timeoutMs: 15_000, what: "the TLS listener" });
    // A real ClientHello, captured from Node's TLS client by a fake server. It gets the client past
    // the TLS inspector (whose own 15 s listener-filter timeout would otherwise close the
    // connection); then the handshake never finishes.
    const clientHello = await new Promise<Buffer>((resolve, reject) => {
      const capture = net.createServer((socket) => {
        socket.once("data", (chunk: Buffer) => {
          resolve(chunk);
          socket.destroy();
          capture.close();
        });
      });
      capture.listen(0, "127.0.0.1", () => {
        const address = capture.address() as net.AddressInfo;
        const client = tls.connect({ host: "127.0.0.1", port: address.port, servername: "webapp.istioinaction.io", rejectUnauthorized: false });
        client.on("error", () => undefined);
      });
      capture.on("error", reject);
    });
    const closed = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: "127.0.0.1", port: gateway!.port(443) }, () => socket.write(clientHello));
      // Generous: the configured timeout is 1 s; without one Envoy keeps the connection forever.
      const guard = setTimeout(() => {
        socket.destroy();
        resolve(false);
      }, 30_000);
      socket.on("data", () => undefined);
      socket.on("close", () => {
        clearTimeout(guard);
        resolve(true);
      });
      socket.on("error", () => undefined);
    });
    assert.equal(closed, true, "Envoy kept a connection whose TLS handshake never finished");
  });

  test("a TLS connection with an unknown SNI leaves a listener access-log line (NR)", async () => {
    await new Promise<void>((resolve) => {
      const socket = tls.connect({ host: "127.0.0.1", port: gateway!.port(443), servername: "unknown.example.org", rejectUnauthorized: false });
      socket.on("error", () => resolve());
      socket.on("close", () => resolve());
    });
    await waitFor(async () => (/ NR [^\n]*unknown\.example\.org/.test(gateway!.envoy.log()) ? true : undefined), {
      timeoutMs: 10_000,
      what: "an NR access-log line naming the SNI",
    });
  });
});
