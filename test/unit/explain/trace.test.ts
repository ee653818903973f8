/**
 * The pure tracer on hand-built Envoy resources: Envoy's selection orders (virtual host domains,
 * filter chains by SNI), matcher semantics (absent headers, inversion, regex full match, query
 * parameters), redirects' Location, and the nearest-miss messages that name the Gateway.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { EnvoyJson, EnvoyResource, EnvoyResources } from "../../../src/envoy/resources.js";
import { explainRequest } from "../../../src/explain/trace.js";
import type { ExplainRequest } from "../../../src/explain/trace.js";
import { matchHeader, matchQueryParameter, matchRoute } from "../../../src/explain/matchers.js";
import type { HttpRequestFacts } from "../../../src/explain/matchers.js";
import { selectVirtualHost } from "../../../src/explain/selection.js";
import { resourcesFromConfigDump, withoutPrivateKeys } from "../../../src/explain/config-dump.js";
import { explanationJson } from "../../../src/explain/format.js";

const hcm = (routeConfig: string): EnvoyJson => ({
  name: "envoy.filters.network.http_connection_manager",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", rds: { route_config_name: routeConfig } },
});
const listener = (port: number, chains: EnvoyJson[]): EnvoyResource => ({
  "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
  name: `0.0.0.0_${port}`,
  address: { socket_address: { address: "0.0.0.0", port_value: port } },
  filter_chains: chains,
});
const routeConfig = (name: string, virtualHosts: EnvoyJson[]): EnvoyResource => ({
  "@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  name,
  virtual_hosts: virtualHosts,
  ignore_port_in_host_matching: true,
});
const cluster = (name: string): EnvoyResource => ({ "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", name, type: "EDS" });
const endpoints = (name: string, addresses: string[]): EnvoyResource => ({
  "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
  name,
  cluster_name: name,
  endpoints: [{ lb_endpoints: addresses.map((address) => ({ endpoint: { address: { socket_address: { address, port_value: 8080 } } } })) }],
});
const tlsChain = (serverNames: string[], secret: string, routeConfigName: string): EnvoyJson => ({
  filter_chain_match: { server_names: serverNames },
  transport_socket: {
    name: "envoy.transport_sockets.tls",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", common_tls_context: { tls_certificate_sds_secret_configs: [{ name: secret }] } },
  },
  filters: [hcm(routeConfigName)],
});
const secret = (name: string): EnvoyResource => ({ "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret", name, tls_certificate: { certificate_chain: { inline_string: "CERT" }, private_key: { inline_string: "KEY" } } });

function resources(partial: Partial<EnvoyResources>): EnvoyResources {
  return { listeners: [], routes: [], clusters: [], endpoints: [], secrets: [], ...partial };
}

const facts = (overrides: Partial<HttpRequestFacts> = {}): HttpRequestFacts => ({ authority: "a.example", path: "/", method: "GET", scheme: "http", headers: [], ...overrides });

describe("virtual host selection follows Envoy's order", () => {
  const config = routeConfig("http.8080", [
    { name: "any", domains: ["*"], routes: [] },
    { name: "prefix", domains: ["api.*"], routes: [] },
    { name: "short-suffix", domains: ["*.example"], routes: [] },
    { name: "long-suffix", domains: ["*.shop.example"], routes: [] },
    { name: "exact", domains: ["api.shop.example"], routes: [] },
  ]);
  const chosen = (host: string, strip = true): string | undefined => {
    const virtualHost = selectVirtualHost(config, host, strip).virtualHost;
    return typeof virtualHost?.name === "string" ? virtualHost.name : undefined;
  };

  test("exact, then the longest suffix wildcard, then prefix wildcards, then *", () => {
    assert.equal(chosen("api.shop.example"), "exact");
    assert.equal(chosen("API.Shop.Example"), "exact");
    assert.equal(chosen("www.shop.example"), "long-suffix");
    assert.equal(chosen("www.example"), "short-suffix");
    assert.equal(chosen("api.other"), "prefix");
    assert.equal(chosen("else"), "any");
  });

  test("a wildcard never matches the empty string", () => {
    assert.equal(chosen(".shop.example"), "short-suffix");
  });

  test("the Host's port is ignored only when the configuration says so", () => {
    assert.equal(chosen("api.shop.example:8080"), "exact");
    assert.equal(chosen("api.shop.example:8080", false), "prefix");
  });
});

describe("matchers", () => {
  test("an absent header matches only an inverted or absence matcher, unless treated as empty", () => {
    assert.equal(matchHeader({ name: "x-a", string_match: { exact: "1" } }, facts()).ok, false);
    assert.equal(matchHeader({ name: "x-a", string_match: { exact: "1" }, invert_match: true }, facts()).ok, false);
    assert.equal(matchHeader({ name: "x-a", string_match: { prefix: "y" }, invert_match: true, treat_missing_header_as_empty: true }, facts()).ok, true);
    assert.equal(matchHeader({ name: "x-a", present_match: false }, facts()).ok, true);
    assert.equal(matchHeader({ name: "x-a", present_match: true, invert_match: true }, facts()).ok, true);
    assert.equal(matchHeader({ name: "x-a", string_match: { prefix: "y" }, invert_match: true }, facts({ headers: [["x-a", "yes"]] })).ok, false);
  });

  test("repeated headers are joined with a comma; pseudo-headers are matched", () => {
    const request = facts({ headers: [["x-a", "1"], ["x-a", "2"]], method: "POST" });
    assert.equal(matchHeader({ name: "x-a", string_match: { exact: "1,2" } }, request).ok, true);
    assert.equal(matchHeader({ name: ":method", string_match: { exact: "POST" } }, request).ok, true);
    assert.equal(matchHeader({ name: ":authority", string_match: { prefix: "a." } }, request).ok, true);
  });

  test("regexes must match the whole path, without the query; case_sensitive does not apply to them", () => {
    assert.equal(matchRoute({ safe_regex: { regex: "/items/[0-9]+" } }, facts({ path: "/items/42?x=1" })).matched, true);
    assert.equal(matchRoute({ safe_regex: { regex: "/items/[0-9]+" } }, facts({ path: "/items/42/more" })).matched, false);
    assert.equal(matchRoute({ safe_regex: { regex: "/items/[0-9]+" }, case_sensitive: false }, facts({ path: "/ITEMS/42" })).matched, false);
    assert.equal(matchRoute({ prefix: "/items", case_sensitive: false }, facts({ path: "/ITEMS/42" })).matched, true);
  });

  test("path_separated_prefix stops at a segment boundary", () => {
    assert.equal(matchRoute({ path_separated_prefix: "/api" }, facts({ path: "/api/x" })).matched, true);
    assert.equal(matchRoute({ path_separated_prefix: "/api" }, facts({ path: "/apis" })).matched, false);
  });

  test("query parameters: decoded, first value, presence", () => {
    assert.equal(matchQueryParameter({ name: "q", string_match: { exact: "a b" } }, facts({ path: "/?q=a%20b&q=c" })).ok, true);
    assert.equal(matchQueryParameter({ name: "q", present_match: true }, facts({ path: "/?p=1" })).ok, false);
  });
});

describe("explainRequest", () => {
  const webapp = "outbound|80||webapp.ns.svc.cluster.local";
  const base = resources({
    listeners: [listener(8080, [{ filters: [hcm("http.8080")] }]), listener(8443, [tlsChain(["webapp.example"], "kubernetes://webapp-credential", "https.443.https.gw.ns"), tlsChain(["*.example"], "kubernetes://wild", "https.443.wild.gw.ns")])],
    routes: [
      routeConfig("http.8080", [
        { name: "catalog.example:80", domains: ["catalog.example"], routes: [
          { match: { prefix: "/api" }, route: { cluster: webapp, timeout: "2s" }, metadata: { filter_metadata: { istio: { config: "/apis/networking.istio.io/v1/namespaces/ns/virtual-service/catalog" } } } },
          { match: { path: "/old" }, redirect: { path_redirect: "/new", response_code: "FOUND" } },
          { match: { prefix: "/split" }, route: { weighted_clusters: { clusters: [{ name: webapp, weight: 90 }, { name: "missing", weight: 10 }] } } },
        ] },
        { name: "secure.example:80", domains: ["secure.example"], require_tls: "ALL", routes: [{ match: { prefix: "/" }, route: { cluster: webapp } }] },
      ]),
      routeConfig("https.443.https.gw.ns", [{ name: "webapp.example:443", domains: ["webapp.example"], routes: [{ match: { prefix: "/" }, route: { cluster: webapp } }] }]),
      routeConfig("https.443.wild.gw.ns", [{ name: "wild:443", domains: ["*.example"], routes: [{ match: { prefix: "/" }, direct_response: { status: 204 } }] }]),
    ],
    clusters: [cluster(webapp)],
    endpoints: [endpoints(webapp, ["10.0.0.1"])],
    secrets: [secret("kubernetes://webapp-credential")],
  });
  const context = {
    servicePorts: [
      { port: 80, targetPort: 8080 },
      { port: 443, targetPort: 8443 },
    ],
    gatewayServers: [
      { gateway: "ns/gw", port: 443, protocol: "HTTPS", hosts: ["webapp.example"] },
      { gateway: "ns/gw", port: 80, protocol: "HTTP", hosts: ["catalog.example", "secure.example"] },
    ],
  };
  const explain = (request: ExplainRequest) => explainRequest(base, request, context);

  test("a routed request: Service port → listener, route, cluster, endpoints, timeout", () => {
    const result = explain({ host: "catalog.example", path: "/api/items" });
    assert.equal(result.verdict, "route");
    assert.equal(result.listener, "0.0.0.0_8080");
    assert.equal(result.routeConfig, "http.8080");
    assert.equal(result.virtualHost, "catalog.example:80");
    assert.deepEqual(result.route, { index: 0, match: { prefix: "/api" } });
    assert.deepEqual(result.clusters, [{ name: webapp, weight: 100 }]);
    assert.ok(result.reasons.includes("timeout 2s"));
    assert.ok(result.reasons.some((reason) => reason.includes("endpoints 10.0.0.1:8080")));
    assert.ok(result.reasons.some((reason) => reason.includes("VirtualService ns/catalog")));
  });

  test("a host served only on another port: the nearest miss names the Gateway and its port", () => {
    const result = explain({ host: "webapp.example", port: 80 });
    assert.equal(result.verdict, "not_found");
    assert.equal(result.status, 404);
    assert.ok(result.reasons.includes("host webapp.example:80 not served: the Gateway ns/gw serves it on port 443 only"), result.reasons.join("\n"));
  });

  test("no route matches: 404 and the nearest route with what it needs", () => {
    const result = explain({ host: "catalog.example", path: "/nothing" });
    assert.equal(result.verdict, "not_found");
    assert.ok(result.reasons.at(-1)?.includes('nearest miss is route #0 from VirtualService ns/catalog, which needs path prefix "/api"'), result.reasons.at(-1));
  });

  test("redirects: the route's, keeping the query; require_tls to https", () => {
    assert.deepEqual(
      [explain({ host: "catalog.example", path: "/old?x=1" })].map((r) => [r.verdict, r.status, r.location]),
      [["redirect", 302, "http://catalog.example/new?x=1"]],
    );
    const secure = explain({ host: "secure.example", path: "/a" });
    assert.deepEqual([secure.verdict, secure.status, secure.location], ["redirect", 301, "https://secure.example/a"]);
  });

  test("weighted clusters, one of them missing", () => {
    const result = explain({ host: "catalog.example", path: "/split" });
    assert.deepEqual(result.clusters, [{ name: webapp, weight: 90 }, { name: "missing", weight: 10 }]);
    assert.equal(result.status, undefined);
    assert.ok(result.reasons.some((reason) => reason.startsWith("cluster missing (weight 10, 10%) does not exist")));
  });

  test("TLS: exact SNI beats a wildcard chain; a missing secret refuses the handshake; plaintext to TLS is refused", () => {
    const exact = explain({ host: "webapp.example", scheme: "https" });
    assert.equal(exact.verdict, "route");
    assert.equal(exact.secret, "kubernetes://webapp-credential");
    assert.equal(exact.routeConfig, "https.443.https.gw.ns");
    const wildcard = explain({ host: "other.example", scheme: "https" });
    assert.equal(wildcard.verdict, "tls_handshake_refused");
    assert.equal(wildcard.secret, "kubernetes://wild");
    assert.equal(explain({ host: "nothing.test", scheme: "https" }).verdict, "tls_handshake_refused");
    assert.equal(explain({ host: "webapp.example", scheme: "http", port: 443 }).verdict, "tls_handshake_refused");
  });

  test("no listener on the port names the ports there are", () => {
    const result = explain({ host: "catalog.example", port: 9999 });
    assert.equal(result.verdict, "no_listener");
    assert.ok(result.reasons.some((reason) => reason.includes("listens on 8080, 8443")));
  });

  test("JSON keeps the documented key order", () => {
    const keys = Object.keys(explanationJson(explain({ host: "catalog.example", path: "/old" })));
    assert.deepEqual(keys, ["verdict", "status", "location", "listener", "filterChain", "routeConfig", "virtualHost", "route", "reasons"]);
  });
});

describe("config dump", () => {
  test("static and dynamic resources are read back; warming listeners are reported apart", () => {
    const dump = {
      configs: [
        { "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump", dynamic_listeners: [{ name: "a", active_state: { version_info: "3", listener: { "@type": "L", name: "a" } } }, { name: "b", warming_state: { listener: { name: "b" } } }] },
        { "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump", static_clusters: [{ cluster: { name: "static" } }], dynamic_active_clusters: [{ cluster: { name: "c" } }] },
        { "@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump", dynamic_endpoint_configs: [{ endpoint_config: { cluster_name: "c", endpoints: [] } }] },
        { "@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump", dynamic_active_secrets: [{ name: "s", secret: { name: "s" } }] },
      ],
    };
    const read = resourcesFromConfigDump(dump);
    assert.deepEqual(read.resources.listeners.map((l) => l.name), ["a"]);
    assert.deepEqual(read.warmingListeners, ["b"]);
    assert.deepEqual(read.resources.clusters.map((c) => c.name), ["static", "c"]);
    assert.deepEqual(read.resources.endpoints.map((e) => e.name), ["c"]);
    assert.deepEqual(read.resources.secrets.map((s) => s.name), ["s"]);
    assert.equal(read.versions.get("listeners/a"), "3");
  });

  test("private keys never leave", () => {
    const stripped = JSON.stringify(withoutPrivateKeys(secret("s")));
    assert.ok(!stripped.includes("KEY"));
    assert.ok(stripped.includes("CERT"));
  });
});
