/**
 * `explain` against real Envoy: for every request generated over each configuration (the labs'
 * ch4 manifests and certificates, the project's examples/coolstore, and a matching-heavy
 * configuration), the verdict explain computes from the compiled resources — and from the live
 * proxy's /config_dump — equals what a real Envoy running that compiled config does with the
 * request: which upstream (cluster) answered, or the 404 / redirect and Location / direct
 * response / 503, or a refused connection or handshake. Besides HTTP: raw TCP through a
 * tcp_proxy (L8: the echo server's greeting names who answered, and the bytes come back), TLS
 * passthrough by SNI (L9: the upstream terminates TLS itself) and mutual TLS (L5: with and
 * without a client certificate).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { dump } from "js-yaml";
import { explainRequest } from "../../../src/explain/trace.js";
import type { ExplainContext, ExplainRequest, Explanation } from "../../../src/explain/trace.js";
import { resourcesFromConfigDump } from "../../../src/explain/config-dump.js";
import { startHttpbin, startTcpEcho, startTlsServer } from "../../support/upstreams/index.js";
import type { Httpbin, TcpEcho, TlsServer } from "../../support/upstreams/index.js";
import { httpRequest, waitFor } from "../../support/net.js";
import { printEnvoyLogOnFailure } from "../../support/envoy.js";
import { labsDir } from "../../support/labs.js";
import { repoRoot } from "../../support/paths.js";
import { serviceManifest, startCompiledGateway } from "../compile/compiled-gateway.js";
import type { CompiledGateway } from "../compile/compiled-gateway.js";
import { generatedMaterial, labMaterial, secretManifest } from "../compile/tls-fixtures.js";
import type { TlsMaterial } from "../compile/tls-fixtures.js";

/** What happened to a request, in the terms both Envoy's answer and explain's verdict reduce to. */
type Outcome = { kind: "refused" } | { kind: "http"; status: number; location?: string; upstreams: string[] } | { kind: "tcp"; upstreams: string[] };

function describeOutcome(outcome: Outcome): string {
  if (outcome.kind === "refused") return "connection or handshake refused";
  if (outcome.kind === "tcp") return `bytes echoed by ${outcome.upstreams.join(" | ") || "nobody"}`;
  return `${outcome.status}${outcome.location ? ` → ${outcome.location}` : ""}${outcome.upstreams.length > 0 ? ` from ${outcome.upstreams.join(" | ")}` : ""}`;
}

/** The Service name in an Istio cluster name: outbound|80||webapp.istioinaction.svc.cluster.local → webapp. */
function serviceOfCluster(cluster: string): string {
  return (cluster.split("|")[3] ?? cluster).split(".")[0] ?? cluster;
}

function expectedOutcome(explanation: Explanation, request: GeneratedRequest): Outcome {
  if (explanation.verdict === "tcp_proxy" && request.transport === "tcp") {
    return { kind: "tcp", upstreams: (explanation.clusters ?? []).filter((c) => c.weight > 0).map((c) => serviceOfCluster(c.name)).sort() };
  }
  switch (explanation.verdict) {
    case "no_listener":
    case "tls_handshake_refused":
      return { kind: "refused" };
    case "not_found":
      return { kind: "http", status: 404, upstreams: [] };
    case "redirect":
      return { kind: "http", status: explanation.status ?? 301, ...(explanation.location ? { location: explanation.location } : {}), upstreams: [] };
    case "direct_response":
      return { kind: "http", status: explanation.status ?? 200, upstreams: [] };
    case "route":
    case "tcp_proxy":
      if (explanation.status !== undefined) return { kind: "http", status: explanation.status, upstreams: [] };
      return { kind: "http", status: 200, upstreams: (explanation.clusters ?? []).filter((c) => c.weight > 0).map((c) => serviceOfCluster(c.name)).sort() };
  }
}

function matches(expected: Outcome, actual: Outcome): boolean {
  if (expected.kind !== "http" || actual.kind !== "http") {
    if (expected.kind !== actual.kind) return false;
    if (expected.kind !== "tcp" || actual.kind !== "tcp") return true;
    return actual.upstreams.length === 1 && expected.upstreams.includes(actual.upstreams[0] ?? "");
  }
  if (expected.status !== actual.status) return false;
  if ((expected.location ?? "") !== (actual.location ?? "")) return false;
  if (expected.upstreams.length === 0) return actual.upstreams.length === 0;
  return actual.upstreams.length === 1 && expected.upstreams.includes(actual.upstreams[0] ?? "");
}

interface GeneratedRequest extends ExplainRequest {
  port: number;
  scheme: "http" | "https";
  /** "tcp": raw bytes instead of an HTTP request (explain sees a plaintext connection). */
  transport?: "tcp";
}

const echoProbe = "pilotfish explain probe\n";

/**
 * A raw TCP connection: the echo server greets with its name ("Welcome, you are connected to
 * node NAME."), then sends back what it receives. Refused: the connection is refused, or closed
 * before the probe came back.
 */
function sendTcp(port: number): Promise<Outcome> {
  return new Promise((resolve) => {
    let received = "";
    let settled = false;
    const socket = net.connect({ host: "127.0.0.1", port });
    const finish = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: "refused" }), 5_000);
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(echoProbe));
    socket.on("data", (chunk: string) => {
      received += chunk;
      const greeting = /connected to node ([^.\r\n]+)\./.exec(received);
      if (greeting && received.includes(echoProbe)) finish({ kind: "tcp", upstreams: [greeting[1] ?? ""] });
    });
    socket.on("error", () => finish({ kind: "refused" }));
    socket.on("close", () => finish({ kind: "refused" }));
  });
}

async function send(gateway: CompiledGateway, request: GeneratedRequest, clientCertificate?: { certPem: string; keyPem: string }): Promise<Outcome> {
  if (request.transport === "tcp") return sendTcp(gateway.port(request.port));
  const headers: Record<string, string> = { host: request.host };
  for (const [name, value] of request.headers ?? []) headers[name] = value;
  try {
    const response = await httpRequest({
      url: `${request.scheme}://127.0.0.1:${gateway.port(request.port)}${request.path ?? "/"}`,
      method: request.method ?? "GET",
      headers,
      insecure: true,
      ...(request.scheme === "https" ? { servername: request.sni ?? request.host } : {}),
      ...(request.clientCertificate && clientCertificate ? { cert: clientCertificate.certPem, key: clientCertificate.keyPem } : {}),
      timeoutMs: 5_000,
    });
    const upstream = response.headers["x-upstream"];
    return { kind: "http", status: response.status, ...(response.headers.location ? { location: response.headers.location } : {}), upstreams: upstream ? [upstream] : [] };
  } catch {
    return { kind: "refused" };
  }
}

function cross(hosts: string[], targets: Array<Pick<GeneratedRequest, "port" | "scheme">>, paths: string[], variants: Array<Partial<GeneratedRequest>> = [{}]): GeneratedRequest[] {
  const out: GeneratedRequest[] = [];
  for (const host of hosts) for (const target of targets) for (const path of paths) for (const variant of variants) out.push({ host, path, ...target, ...variant });
  return out;
}

function describeRequest(request: GeneratedRequest): string {
  const headers = (request.headers ?? []).map(([n, v]) => ` -H ${n}:${v}`).join("");
  if (request.transport === "tcp") return `TCP to port ${request.port}`;
  const client = request.clientCertificate ? " (client certificate)" : "";
  return `${request.method ?? "GET"} ${request.scheme}://${request.host}:${request.port}${request.path ?? "/"}${request.sni ? ` (SNI ${request.sni})` : ""}${client}${headers}`;
}

const namespace = "istioinaction";
const http80 = { port: 80, scheme: "http" } as const;
const https443 = { port: 443, scheme: "https" } as const;
const plainTo443 = { port: 443, scheme: "http" } as const;
const tlsTo80 = { port: 80, scheme: "https" } as const;

describe("explain's verdict equals what real Envoy does", () => {
  const upstreams = new Map<string, Httpbin>();
  const otherUpstreams: Array<TcpEcho | TlsServer> = [];
  let material: TlsMaterial;
  let gateway: CompiledGateway | undefined;
  let compared = 0;
  /** Verdicts seen, so the comparison provably covers every kind of answer. */
  const seen = new Map<string, number>();
  printEnvoyLogOnFailure(() => [gateway?.envoy]);

  before(async () => {
    material = labsDir() ? labMaterial() : await generatedMaterial();
    for (const name of ["webapp", "catalog", "v1", "v2"]) upstreams.set(name, await startHttpbin({ name }));
  });
  after(async () => {
    await gateway?.stop();
    for (const upstream of upstreams.values()) await upstream.close();
    for (const upstream of otherUpstreams) await upstream.close();
    // The issue's bar: at least 30 generated requests compared against Envoy.
    assert.ok(compared >= 30, `only ${compared} requests compared`);
    const kinds = [...seen.keys()].sort();
    console.log(`explain vs Envoy: ${compared} requests, verdicts ${kinds.map((k) => `${k}: ${seen.get(k)}`).join(", ")}`);
    for (const verdict of ["route", "route 503", "redirect 301", "redirect 302", "direct_response 200", "direct_response 418", "not_found 404", "tls_handshake_refused", "tcp_proxy", "no_listener"]) {
      assert.ok(seen.has(verdict), `no request had the verdict ${verdict} (seen: ${kinds.join(", ")})`);
    }
  });

  const service = (name: string, ns = namespace): string => serviceManifest(name, ns, 80, [upstreams.get(name)!]);

  /** Starts Envoy on the manifests and checks every request: explain (compiled and live) vs Envoy. */
  async function check(name: string, manifests: string[], serverPorts: number[], requests: GeneratedRequest[]): Promise<void> {
    await gateway?.stop();
    gateway = undefined;
    gateway = await startCompiledGateway({ name: `explain-${name}`, namespace, manifests, serverPorts });
    const gw = gateway;
    const compiled = gw.result.resources;
    // Every compiled listener active (none warming for SDS/RDS) before the first request.
    const live = await waitFor(
      async () => {
        const dumped = resourcesFromConfigDump(await gw.envoy.configDump("?include_eds"));
        return dumped.warmingListeners.length === 0 && dumped.resources.listeners.length === compiled.listeners.length ? dumped : undefined;
      },
      { timeoutMs: 20_000, what: `Envoy ${name} to activate its ${compiled.listeners.length} listener(s)` },
    );
    const context: ExplainContext = { servicePorts: serverPorts.map((port) => ({ port, targetPort: gw.port(port) })) };
    const failures: string[] = [];
    for (const request of requests) {
      const explanation = explainRequest(compiled, request, context);
      const fromLive = explainRequest(live.resources, request, context);
      const expected = expectedOutcome(explanation, request);
      const actual = await send(gw, request, material.webappClient);
      compared += 1;
      const key = `${explanation.verdict}${explanation.status !== undefined ? ` ${explanation.status}` : ""}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
      if (!matches(expected, actual)) {
        failures.push(`${describeRequest(request)}: explain says ${explanation.verdict} (${describeOutcome(expected)}), Envoy did ${describeOutcome(actual)}\n    ${explanation.reasons.join("\n    ")}`);
      }
      if (fromLive.verdict !== explanation.verdict || JSON.stringify(fromLive.clusters) !== JSON.stringify(explanation.clusters) || fromLive.location !== explanation.location) {
        failures.push(`${describeRequest(request)}: explain on the live config_dump says ${fromLive.verdict}, on the compiled config ${explanation.verdict}`);
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${requests.length} requests disagree`);
  }

  test("labs ch4: HTTPS with the httpsRedirect (L4), a VirtualService for a host the Gateway does not serve", async () => {
    const manifests = [
      material.manifest("gw-tls-redirect"),
      material.manifest("coolstore-vs"),
      material.manifest("catalog-vs"),
      service("webapp"),
      service("catalog"),
      secretManifest("istio-system", "webapp-credential", { "tls.crt": material.webapp.certPem, "tls.key": material.webapp.keyPem }, "kubernetes.io/tls"),
    ];
    const hosts = ["webapp.istioinaction.io", "catalog.istioinaction.io", "www.example.com"];
    const requests = [
      ...cross(hosts, [http80, https443], ["/", "/api/catalog?page=2"]),
      ...cross(hosts, [plainTo443, tlsTo80], ["/"]),
      { host: "catalog.istioinaction.io", path: "/", ...https443, sni: "webapp.istioinaction.io" },
    ];
    await check("l4", manifests, [80, 443], requests);
  });

  test("labs ch4: two certificates by SNI (L6), Host and SNI disagreeing", async () => {
    const manifests = [
      material.manifest("gw-multi-tls"),
      material.manifest("coolstore-vs"),
      material.manifest("catalog-vs"),
      service("webapp"),
      service("catalog"),
      secretManifest("istio-system", "webapp-credential", { "tls.crt": material.webapp.certPem, "tls.key": material.webapp.keyPem }, "kubernetes.io/tls"),
      secretManifest("istio-system", "catalog-credential", { "tls.crt": material.catalog.certPem, "tls.key": material.catalog.keyPem }, "kubernetes.io/tls"),
    ];
    const hosts = ["webapp.istioinaction.io", "catalog.istioinaction.io", "other.istioinaction.io"];
    const requests = [
      ...cross(hosts, [https443, plainTo443], ["/", "/items"]),
      ...cross(["webapp.istioinaction.io", "catalog.istioinaction.io"], [https443], ["/"], [{ sni: "catalog.istioinaction.io" }, { sni: "webapp.istioinaction.io" }]),
    ];
    await check("l6", manifests, [443], requests);
  });

  test("the project's examples/coolstore (certificate generated by src/pki)", async () => {
    const dir = join(repoRoot, "examples", "coolstore");
    const generated = await generatedMaterial();
    const manifests = [
      ...readdirSync(dir)
        .filter((file) => file.endsWith(".yaml"))
        .sort()
        .map((file) => readFileSync(join(dir, file), "utf8")),
      service("webapp"),
      service("catalog"),
      secretManifest("istio-system", "webapp-credential", { "tls.crt": generated.webapp.certPem, "tls.key": generated.webapp.keyPem }, "kubernetes.io/tls"),
    ];
    const hosts = ["webapp.istioinaction.io", "catalog.istioinaction.io", "WebApp.IstioInAction.io", "nothing.istioinaction.io"];
    await check("coolstore", manifests, [80, 443], cross(hosts, [http80, https443], ["/", "/api/catalog"]));
  });

  test("matching: exact, regex, headers, method, query, redirect, direct response, weights, no endpoints, wildcard hosts", async () => {
    const shop = "shop";
    const docs = [
      { apiVersion: "networking.istio.io/v1", kind: "Gateway", metadata: { name: "gw", namespace: shop }, spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*.shop.example"] }] } },
      {
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name: "api", namespace: shop },
        spec: {
          hosts: ["api.shop.example"],
          gateways: ["gw"],
          http: [
            { name: "exact", match: [{ uri: { exact: "/exact" } }], route: [{ destination: { host: "v1" } }] },
            { name: "regex", match: [{ uri: { regex: "/items/[0-9]+" } }], route: [{ destination: { host: "v2" } }] },
            // ignoreUriCase on a regex: the compiler sets case_sensitive false, which Envoy ignores for regexes.
            { name: "regex-ci", match: [{ uri: { regex: "/ci/[0-9]+" }, ignoreUriCase: true }], route: [{ destination: { host: "v2" } }] },
            { name: "prefix-ci", match: [{ uri: { prefix: "/case" }, ignoreUriCase: true }], route: [{ destination: { host: "v2" } }] },
            { name: "beta", match: [{ headers: { "x-version": { exact: "beta" } }, withoutHeaders: { "x-block": { prefix: "yes" } } }], route: [{ destination: { host: "v2" } }] },
            { name: "post", match: [{ method: { exact: "POST" }, uri: { prefix: "/items" } }], route: [{ destination: { host: "v1" } }] },
            { name: "debug", match: [{ queryParams: { debug: { exact: "1" } } }], route: [{ destination: { host: "v2" } }] },
            { name: "old", match: [{ uri: { prefix: "/old" } }], redirect: { uri: "/new", redirectCode: 302 } },
            { name: "moved", match: [{ uri: { exact: "/moved" } }], redirect: { authority: "elsewhere.shop.example" } },
            { name: "hello", match: [{ uri: { exact: "/hello" } }], directResponse: { status: 200, body: { string: "hello" } } },
            { name: "teapot", match: [{ uri: { prefix: "/teapot" } }], directResponse: { status: 418 } },
            { name: "down", match: [{ uri: { prefix: "/down" } }], route: [{ destination: { host: "nobody" } }] },
            { name: "rest", match: [{ uri: { prefix: "/api" } }, { uri: { prefix: "/items" } }], route: [{ destination: { host: "v1" } }] },
          ],
        },
      },
      {
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name: "split", namespace: shop },
        spec: { hosts: ["split.shop.example"], gateways: ["gw"], http: [{ route: [{ destination: { host: "v1" }, weight: 50 }, { destination: { host: "v2" }, weight: 50 }] }] },
      },
      {
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name: "wild", namespace: shop },
        spec: { hosts: ["*.shop.example"], gateways: ["gw"], http: [{ match: [{ uri: { prefix: "/v2" } }], route: [{ destination: { host: "v2" } }] }] },
      },
      { apiVersion: "v1", kind: "Service", metadata: { name: "nobody", namespace: shop }, spec: { ports: [{ name: "http", port: 80 }] } },
    ];
    const manifests = [...docs.map((doc) => dump(doc)), service("v1", shop), service("v2", shop)];
    const hosts = ["api.shop.example", "split.shop.example", "other.shop.example", "shop.example", "nope.example"];
    const paths = ["/", "/exact", "/exact/more", "/items/42", "/ITEMS/42", "/items", "/old/a?q=1", "/moved?x=y", "/hello", "/teapot/1", "/down", "/api/x", "/v2/x", "/?debug=1", "/ci/7", "/CI/7", "/CASE/x"];
    const variants: Array<Partial<GeneratedRequest>> = [{}, { headers: [["x-version", "beta"]] }, { headers: [["x-version", "beta"], ["x-block", "yes-please"]] }, { method: "POST" }];
    await check("matching", manifests, [80], cross(hosts, [http80], paths, variants));
  });

  test("labs ch4: mutual TLS (L5): refused without a client certificate, served with one", async () => {
    const manifests = [
      material.manifest("gw-mtls"),
      material.manifest("coolstore-vs"),
      service("webapp"),
      secretManifest("istio-system", "webapp-credential-mtls", { "tls.crt": material.webapp.certPem, "tls.key": material.webapp.keyPem, "ca.crt": material.webapp.caChainPem }),
    ];
    const hosts = ["webapp.istioinaction.io", "catalog.istioinaction.io"];
    const requests = [
      ...cross(hosts, [https443], ["/", "/api/catalog"], [{}, { clientCertificate: true }]),
      ...cross(hosts, [http80, plainTo443], ["/"]),
    ];
    await check("l5", manifests, [80, 443], requests);
  });

  test("labs ch4: TCP through a tcp_proxy (L8), and a port no server listens on", async () => {
    const echo = await startTcpEcho({ name: "tcp-echo-service" });
    otherUpstreams.push(echo);
    const manifests = [material.manifest("gateway-tcp"), material.manifest("echo-vs"), serviceManifest("tcp-echo-service", namespace, 2701, [echo])];
    const tcp = (port: number): GeneratedRequest => ({ host: "tcp-echo.istioinaction.io", port, scheme: "http", transport: "tcp" });
    // 80 is a port of the gateway Service with no Gateway server: no listener, the connection is refused.
    const requests = [tcp(31400), tcp(31400), tcp(80), ...cross(["tcp-echo.istioinaction.io", "webapp.istioinaction.io"], [http80], ["/"])];
    await check("l8", manifests, [31400, 80], requests);
  });

  test("labs ch4: TLS passthrough by SNI (L9): the upstream terminates TLS; an unknown SNI or plaintext is refused", async () => {
    const sni1 = await startTlsServer({ name: "simple-tls-service-1", cert: material.sni1.certPem, key: material.sni1.keyPem });
    const sni2 = await startTlsServer({ name: "simple-tls-service-2", cert: material.sni2.certPem, key: material.sni2.keyPem });
    otherUpstreams.push(sni1, sni2);
    const manifests = [
      material.manifest("sni-gateway-both"),
      material.manifest("sni-vs-1"),
      material.manifest("sni-vs-2"),
      serviceManifest("simple-tls-service-1", namespace, 80, [sni1]),
      serviceManifest("simple-tls-service-2", namespace, 80, [sni2]),
    ];
    const tls31400 = { port: 31400, scheme: "https" } as const;
    const hosts = ["simple-sni-1.istioinaction.io", "simple-sni-2.istioinaction.io", "unknown.istioinaction.io"];
    const requests: GeneratedRequest[] = [
      ...cross(hosts, [tls31400, { port: 31400, scheme: "http" }], ["/", "/x"]),
      // The Host header does not choose: the SNI does.
      { host: "simple-sni-1.istioinaction.io", path: "/", ...tls31400, sni: "simple-sni-2.istioinaction.io" },
      { host: "simple-sni-1.istioinaction.io", port: 31400, scheme: "http", transport: "tcp" },
    ];
    await check("l9", manifests, [31400], requests);
  });
});
