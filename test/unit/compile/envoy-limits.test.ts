import { test } from "node:test";
import assert from "node:assert/strict";
import { goldenCases } from "../../golden/cases.js";
import type { EnvoyJson } from "../../../src/envoy/resources.js";

// What Istio accepts and Envoy rejects (docs/validation.md, "Accepted by Istio, refused by
// Envoy"): test/golden/envoy-limits compiles it; golden-validate runs the output through
// `envoy --mode validate`. Here: what each case became, and the diagnostic saying so.
const golden = goldenCases().find((candidate) => candidate.name === "envoy-limits");
if (!golden) throw new Error("golden case envoy-limits missing");
const result = golden.compile();
const routeConfig = result.resources.routes[0] as EnvoyJson;
const routes = ((routeConfig.virtual_hosts as EnvoyJson[])[0]?.routes ?? []) as EnvoyJson[];

function routeFor(prefix: string): EnvoyJson {
  const route = routes.find((candidate) => {
    const match = candidate.match as { prefix?: string; path?: string };
    return match.prefix === prefix || match.path === prefix;
  });
  assert.ok(route, `route ${prefix}`);
  return route;
}

function messages(field: string): string[] {
  return result.diagnostics.filter((d) => d.field === field).map((d) => d.message);
}

function headerKeys(route: EnvoyJson | undefined, key = "request_headers_to_add"): string[] {
  return ((route?.[key] as { header: { key: string } }[] | undefined) ?? []).map((option) => option.header.key.toLowerCase());
}

test("fault abort 600 is dropped (delay kept) with an error", () => {
  const fault = (routeFor("/abort-600").typed_per_filter_config as EnvoyJson)["envoy.filters.http.fault"] as EnvoyJson;
  assert.equal(fault.abort, undefined);
  assert.ok(fault.delay);
  assert.match(messages("spec.http[0].fault.abort.httpStatus")[0] ?? "", /200 to 599/);
});

test("directResponse 600 answers 500 with an error", () => {
  assert.deepEqual((routeFor("/direct-600").direct_response as EnvoyJson).status, 500);
  assert.match(messages("spec.http[1].directResponse.status")[0] ?? "", /answering 500/);
});

test("request set/add of host or :authority becomes the host rewrite, like istiod", () => {
  const setHost = routeFor("/set-host");
  assert.equal((setHost.route as EnvoyJson).host_rewrite_literal, "set.example");
  assert.deepEqual(headerKeys(setHost), ["x-kept"]);
  assert.equal(messages("spec.http[2].headers.request.set.host").length, 1);
  // set wins over add
  assert.equal((routeFor("/add-authority").route as EnvoyJson).host_rewrite_literal, "set-wins.example");
  assert.deepEqual(headerKeys(routeFor("/add-authority")), []);
  // rewrite.authority wins over the header
  assert.equal((routeFor("/rewrite-wins").route as EnvoyJson).host_rewrite_literal, "rewrite.example");
  // a single destination's host header
  assert.equal((routeFor("/destination-host").route as EnvoyJson).host_rewrite_literal, "destination.example");
  // weighted destinations: per cluster
  const weighted = ((routeFor("/weighted-host").route as EnvoyJson).weighted_clusters as { clusters: EnvoyJson[] }).clusters;
  assert.deepEqual(weighted.map((cluster) => cluster.host_rewrite_literal), ["one.example", "two.example"]);
  assert.deepEqual(weighted.map((cluster) => headerKeys(cluster)), [[], []]);
  // a redirect forwards nothing: dropped with a warning
  const redirect = routeFor("/redirect-host");
  assert.deepEqual(headerKeys(redirect), []);
  assert.match(messages("spec.http[7].headers.request.set.host")[0] ?? "", /does not forward/);
  for (const route of routes) {
    for (const key of ["request_headers_to_add", "response_headers_to_add"]) {
      assert.ok(!headerKeys(route, key).some((name) => name === "host" || name.startsWith(":")), `${String(route.name)} ${key}`);
    }
  }
});

test("redirectCode 0 and redirect.port 0 compile as unset (301, no port), silently", () => {
  const redirect = routeFor("/redirect-zero").redirect as EnvoyJson;
  assert.equal(redirect.response_code, "MOVED_PERMANENTLY");
  assert.equal(redirect.port_redirect, undefined);
  assert.deepEqual(messages("spec.http[8].redirect.redirectCode"), []);
});

test('subset "" and port {number: 0} on destinations compile as unset', () => {
  assert.equal((routeFor("/subset-empty").route as EnvoyJson).cluster, "outbound|80||backend.shop.svc.cluster.local");
  assert.equal((routeFor("/port-zero").route as EnvoyJson).cluster, "outbound|80||backend.shop.svc.cluster.local");
  assert.match(messages("spec.http[10].route[0].destination.port.number")[0] ?? "", /treated as unset/);
  assert.ok(!result.resources.clusters.some((cluster) => String(cluster.name).startsWith("outbound|0|")));
});

test("consistentHash.httpHeaderName \"\" compiles as unset: a ring hash without a header hash policy", () => {
  const cluster = result.resources.clusters.find((candidate) => candidate.name === "outbound|80||backend.shop.svc.cluster.local");
  assert.equal(cluster?.lb_policy, "RING_HASH");
  assert.equal((routeFor("/subset-empty").route as EnvoyJson).hash_policy, undefined);
});

test("portLevelSettings with port 0, above 65535 or repeated: warnings, the first entry for a port applies", () => {
  assert.match(messages("spec.trafficPolicy.portLevelSettings[0].port.number")[0] ?? "", /port 0 is not a port/);
  assert.match(messages("spec.trafficPolicy.portLevelSettings[1].port.number")[0] ?? "", /port 70000 is not a port/);
  assert.match(messages("spec.trafficPolicy.portLevelSettings[3].port.number")[0] ?? "", /already set by portLevelSettings\[2\]/);
  const cluster = result.resources.clusters.find((candidate) => candidate.name === "outbound|80||backend.shop.svc.cluster.local");
  const thresholds = (cluster?.circuit_breakers as { thresholds: { max_connections?: number }[] }).thresholds;
  assert.equal(thresholds[0]?.max_connections, 7);
});

test("TLS maxProtocolVersion below minProtocolVersion on a server: the maximum is dropped (golden tls-options)", () => {
  const tls = goldenCases().find((candidate) => candidate.name === "tls-options");
  assert.ok(tls);
  const compiled = tls.compile();
  assert.ok(compiled.diagnostics.some((d) => d.field.endsWith("tls.maxProtocolVersion") && /below minProtocolVersion/.test(d.message)));
  assert.ok(!JSON.stringify(compiled.resources.listeners).includes('"tls_maximum_protocol_version":"TLSv1_0"'));
});
