/**
 * Differential test (issue 16): a seeded generator mutates valid Gateways, VirtualServices and
 * DestinationRules with one to three independent mutations. Each mutation carries Istio's verdict
 * as read from its source (cited), so a manifest is expected to be refused exactly when one of its
 * mutations is an Istio error. 1,000 manifests per run; the seed is fixed so a failure reproduces.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { hasErrors, validateResource } from "../../../src/api/validation/index.js";

type Json = Record<string, unknown>;

interface Mutation {
  /** Mutations sharing a slot touch the same field and are never combined. */
  slot: string;
  /** Istio accepts the manifest with this mutation (warnings allowed). */
  accepted: boolean;
  cite: string;
  apply(resource: Json): void;
}

const V = "validation.go";
const VSGO = "virtualservice.go";
const A = "agent/validation.go";

function spec(resource: Json): Json {
  return resource.spec as Json;
}
function firstHttp(resource: Json): Json {
  return (spec(resource).http as Json[])[0] as Json;
}
function firstServer(resource: Json): Json {
  return (spec(resource).servers as Json[])[0] as Json;
}
function trafficPolicy(resource: Json): Json {
  const s = spec(resource);
  s.trafficPolicy ??= {};
  return s.trafficPolicy as Json;
}

const baseVirtualService = (): Json => ({
  apiVersion: "networking.istio.io/v1",
  kind: "VirtualService",
  metadata: { name: "vs", namespace: "default" },
  spec: {
    hosts: ["webapp.example.com"],
    gateways: ["istio-system/gw"],
    http: [{ match: [{ uri: { prefix: "/" } }], route: [{ destination: { host: "webapp", port: { number: 80 } } }] }],
  },
});
const baseDestinationRule = (): Json => ({
  apiVersion: "networking.istio.io/v1",
  kind: "DestinationRule",
  metadata: { name: "dr", namespace: "default" },
  spec: { host: "webapp.default.svc.cluster.local", subsets: [{ name: "v1", labels: { version: "v1" } }] },
});
const baseGateway = (): Json => ({
  apiVersion: "networking.istio.io/v1",
  kind: "Gateway",
  metadata: { name: "gw", namespace: "istio-system" },
  spec: {
    selector: { istio: "ingressgateway" },
    servers: [
      { port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["webapp.example.com"] },
      { port: { number: 443, name: "https", protocol: "HTTPS" }, hosts: ["webapp.example.com"], tls: { mode: "SIMPLE", credentialName: "webapp" } },
    ],
  },
});

const vsMutations: Mutation[] = [
  { slot: "match.port", accepted: true, cite: `${VSGO} validateHTTPRouteMatchRequest (Port != 0)`, apply: (r) => void (((firstHttp(r).match as Json[])[0] as Json).port = 0) },
  { slot: "match.port", accepted: false, cite: `${A} ValidatePort`, apply: (r) => void (((firstHttp(r).match as Json[])[0] as Json).port = 70000) },
  { slot: "match.uri", accepted: true, cite: `${VSGO} (uri allows an empty prefix)`, apply: (r) => void (((firstHttp(r).match as Json[])[0] as Json).uri = { prefix: "" }) },
  { slot: "match.uri", accepted: false, cite: `${V} validateStringRegexp`, apply: (r) => void (((firstHttp(r).match as Json[])[0] as Json).uri = { regex: "a{1001}" }) },
  { slot: "match.uri", accepted: true, cite: `${V} validateStringRegexp`, apply: (r) => void (((firstHttp(r).match as Json[])[0] as Json).uri = { regex: "/api/v[0-9]+/.*" }) },
  { slot: "match.headers", accepted: true, cite: `${V} pseudoHeaders`, apply: (r) => void (((firstHttp(r).match as Json[])[0] as Json).headers = { ":authority": { exact: "a" } }) },
  { slot: "match.headers", accepted: false, cite: `${V} validHeaderNameRegex`, apply: (r) => void (((firstHttp(r).match as Json[])[0] as Json).headers = { "a b": { exact: "a" } }) },
  { slot: "match.headers", accepted: false, cite: `${V} validateStringMatch`, apply: (r) => void (((firstHttp(r).match as Json[])[0] as Json).headers = { "x-a": { prefix: "" } }) },
  { slot: "headers", accepted: true, cite: `${V} ValidateHTTPHeaderWithAuthorityOperationName`, apply: (r) => void (firstHttp(r).headers = { request: { set: { host: "b.example.com" } } }) },
  { slot: "headers", accepted: false, cite: `${V} ValidateHTTPHeaderOperationName`, apply: (r) => void (firstHttp(r).headers = { request: { remove: ["host"] } }) },
  { slot: "headers", accepted: true, cite: `${V} (no character check)`, apply: (r) => void (firstHttp(r).headers = { response: { add: { "x y": "1" } } }) },
  { slot: "headers", accepted: false, cite: "header_value_validator.go", apply: (r) => void (firstHttp(r).headers = { response: { add: { "x-a": "50%" } } }) },
  { slot: "retries", accepted: true, cite: `${A} ValidateHTTPRetry`, apply: (r) => void (firstHttp(r).retries = { attempts: 3, retryOn: "5xx,503", retryIgnorePreviousHosts: true }) },
  { slot: "retries", accepted: false, cite: `${A} ValidateHTTPRetry`, apply: (r) => void (firstHttp(r).retries = { attempts: 3, retryOn: "5xx, 503" }) },
  { slot: "retries", accepted: false, cite: `${A} ValidateHTTPRetry`, apply: (r) => void (firstHttp(r).retries = { retryOn: "5xx" }) },
  { slot: "retries", accepted: false, cite: `${A} ValidateHTTPRetry`, apply: (r) => void (firstHttp(r).retries = { attempts: 2, retryOn: "599" }) },
  { slot: "fault", accepted: true, cite: `${V} validateHTTPStatus (<= 600)`, apply: (r) => void (firstHttp(r).fault = { abort: { httpStatus: 600, percentage: { value: 1 } } }) },
  { slot: "fault", accepted: false, cite: `${V} validateHTTPStatus`, apply: (r) => void (firstHttp(r).fault = { abort: { httpStatus: 601 } }) },
  { slot: "fault", accepted: true, cite: `${V} validateHTTPFaultInjectionDelay`, apply: (r) => void (firstHttp(r).fault = { delay: { percentage: { value: 5 } } }) },
  { slot: "fault", accepted: false, cite: `${V} validateHTTPFaultInjection`, apply: (r) => void (firstHttp(r).fault = {}) },
  { slot: "rewrite", accepted: false, cite: `${V} validateHTTPRewrite`, apply: (r) => void (firstHttp(r).rewrite = {}) },
  { slot: "rewrite", accepted: true, cite: `${V} validateHTTPRewrite`, apply: (r) => void (firstHttp(r).rewrite = { uri: "/v2" }) },
  { slot: "rewrite", accepted: false, cite: `${V} validateURIRegexRewrite`, apply: (r) => void (firstHttp(r).rewrite = { uriRegexRewrite: { match: "^/a" } }) },
  { slot: "timeout", accepted: false, cite: `${A} ValidateDuration`, apply: (r) => void (firstHttp(r).timeout = "0.5ms") },
  { slot: "timeout", accepted: true, cite: `${A} ValidateDuration`, apply: (r) => void (firstHttp(r).timeout = "15s") },
  { slot: "subset", accepted: true, cite: `${V} validateDestination (Subset != "")`, apply: (r) => void (((firstHttp(r).route as Json[])[0] as Json).destination = { host: "webapp", subset: "" }) },
  { slot: "subset", accepted: false, cite: `${V} validateSubsetName`, apply: (r) => void (((firstHttp(r).route as Json[])[0] as Json).destination = { host: "webapp", subset: "v_1" }) },
  { slot: "cors", accepted: true, cite: `${V} supportedCORSMethods`, apply: (r) => void (firstHttp(r).corsPolicy = { allowMethods: ["*"], allowOrigins: [{ exact: "https://a.example.com" }] }) },
  { slot: "cors", accepted: false, cite: `${V} validateCORSHTTPMethod`, apply: (r) => void (firstHttp(r).corsPolicy = { allowMethods: ["FETCH"] }) },
  { slot: "exportTo", accepted: false, cite: "visibility Instance.Validate", apply: (r) => void (spec(r).exportTo = ["~"]) },
  { slot: "exportTo", accepted: false, cite: `${V} validateExportTo`, apply: (r) => void (spec(r).exportTo = ["*", "ns"]) },
  { slot: "exportTo", accepted: true, cite: `${V} validateExportTo`, apply: (r) => void (spec(r).exportTo = [".", "ns"]) },
  { slot: "gateways", accepted: false, cite: `${V} validateGatewayNames`, apply: (r) => void (spec(r).gateways = ["./gw"]) },
  { slot: "gateways", accepted: true, cite: `${V} validateGatewayNames (legacy form warns)`, apply: (r) => void (spec(r).gateways = ["gw.istio-system"]) },
  { slot: "hosts", accepted: false, cite: `${V} ValidateVirtualService (duplicate hosts)`, apply: (r) => void (spec(r).hosts = ["*.example.com", "webapp.example.com"]) },
  { slot: "hosts", accepted: true, cite: `${V} ValidateVirtualService (case-sensitive)`, apply: (r) => void (spec(r).hosts = ["webapp.example.com", "WEBAPP.example.com"]) },
  { slot: "mirror", accepted: true, cite: `${VSGO} validateHTTPRoute`, apply: (r) => void Object.assign(firstHttp(r), { mirror: { host: "shadow" }, mirrorPercentage: { value: 10 } }) },
  { slot: "mirror", accepted: false, cite: `${VSGO} validateHTTPRouteConflict`, apply: (r) => void Object.assign(firstHttp(r), { mirror: { host: "shadow" }, mirrors: [{ destination: { host: "b" } }] }) },
];

const drMutations: Mutation[] = [
  { slot: "lb", accepted: true, cite: `${V} validateLoadBalancer`, apply: (r) => void (trafficPolicy(r).loadBalancer = { consistentHash: { httpHeaderName: "" } }) },
  { slot: "lb", accepted: false, cite: `${V} isPrime`, apply: (r) => void (trafficPolicy(r).loadBalancer = { consistentHash: { useSourceIp: true, maglev: { tableSize: 1000 } } }) },
  { slot: "lb", accepted: true, cite: `${V} isPrime`, apply: (r) => void (trafficPolicy(r).loadBalancer = { consistentHash: { useSourceIp: true, maglev: { tableSize: 65537 } } }) },
  { slot: "lb", accepted: false, cite: `${A} validateLocalities`, apply: (r) => void (trafficPolicy(r).loadBalancer = { localityLbSetting: { distribute: [{ from: "r1/*/z", to: { r1: 100 } }] } }) },
  { slot: "lb", accepted: false, cite: `${A} ValidateLocalityLbSetting`, apply: (r) => void (trafficPolicy(r).loadBalancer = { localityLbSetting: { distribute: [{ from: "r1", to: { r1: 60, r2: 30 } }] } }) },
  { slot: "lb", accepted: true, cite: `${A} ValidateLocalityLbSetting (warning without outlier)`, apply: (r) => void (trafficPolicy(r).loadBalancer = { localityLbSetting: { failover: [{ from: "r1", to: "r2" }] } }) },
  { slot: "lb", accepted: false, cite: `${A} ValidateLocalityLbSetting`, apply: (r) => void (trafficPolicy(r).loadBalancer = { localityLbSetting: { failover: [{ from: "r1/z", to: "r2" }] } }) },
  { slot: "lb", accepted: false, cite: `${V} validateLoadBalancer`, apply: (r) => void (trafficPolicy(r).loadBalancer = { warmup: { duration: "10s", aggression: 0 } }) },
  { slot: "pool", accepted: false, cite: `${V} validateConnectionPool`, apply: (r) => void (trafficPolicy(r).connectionPool = { http: { h2UpgradePolicy: "UPGRADE", useClientProtocol: true } }) },
  { slot: "pool", accepted: true, cite: `${V} validateConnectionPool`, apply: (r) => void (trafficPolicy(r).connectionPool = { tcp: { idleTimeout: "0s", maxConnections: 10 } }) },
  { slot: "pool", accepted: false, cite: `${V} validateConnectionPool`, apply: (r) => void (trafficPolicy(r).connectionPool = { http: { http2KeepAlive: { interval: "1s" } } }) },
  { slot: "tls", accepted: false, cite: `${A} ValidateTLS`, apply: (r) => void (trafficPolicy(r).tls = { mode: "SIMPLE", insecureSkipVerify: true, caCertificates: "/ca" }) },
  { slot: "tls", accepted: true, cite: `${A} ValidateTLS`, apply: (r) => void (trafficPolicy(r).tls = { mode: "MUTUAL", credentialName: "client" }) },
  { slot: "tls", accepted: false, cite: `${A} ValidateTLS`, apply: (r) => void (trafficPolicy(r).tls = { mode: "MUTUAL" }) },
  { slot: "outlier", accepted: false, cite: `${V} validateOutlierDetection`, apply: (r) => void (trafficPolicy(r).outlierDetection = { consecutiveLocalOriginFailures: 2 }) },
  { slot: "outlier", accepted: true, cite: `${V} validateOutlierDetection`, apply: (r) => void (trafficPolicy(r).outlierDetection = { consecutive5xxErrors: 5, interval: "10s", outlierDetectionHttpErrorCodes: [503] }) },
  { slot: "ports", accepted: true, cite: `${V} validatePortTrafficPolicies`, apply: (r) => void (trafficPolicy(r).portLevelSettings = [{ port: { number: 0 }, loadBalancer: { simple: "RANDOM" } }, { port: { number: 0 }, loadBalancer: { simple: "RANDOM" } }]) },
  { slot: "ports", accepted: false, cite: `${V} validatePortTrafficPolicies`, apply: (r) => void (trafficPolicy(r).portLevelSettings = [{ port: { number: 80 } }]) },
  { slot: "budget", accepted: true, cite: "istio.io/api TrafficPolicy.retryBudget", apply: (r) => void (trafficPolicy(r).retryBudget = { percent: 25 }) },
  { slot: "subsets", accepted: false, cite: `${V} ValidateDestinationRule (duplicate subsets)`, apply: (r) => void (spec(r).subsets = [{ name: "v1" }, { name: "v1" }]) },
  { slot: "subsets", accepted: true, cite: "labels.IsDNS1123Label", apply: (r) => void (spec(r).subsets = [{ name: "V1" }]) },
  { slot: "exportTo", accepted: false, cite: "visibility Instance.Validate", apply: (r) => void (spec(r).exportTo = ["~"]) },
  { slot: "host", accepted: false, cite: `${A} ValidateWildcardDomain`, apply: (r) => void (spec(r).host = "a.*.com") },
];

const gwMutations: Mutation[] = [
  { slot: "http.tls", accepted: true, cite: `${V} validateServer (passthrough on HTTP)`, apply: (r) => void (firstServer(r).tls = { mode: "PASSTHROUGH" }) },
  { slot: "http.tls", accepted: false, cite: `${V} validateServer`, apply: (r) => void (firstServer(r).tls = { mode: "SIMPLE", credentialName: "x" }) },
  { slot: "http.tls", accepted: true, cite: `${V} validateServer`, apply: (r) => void (firstServer(r).tls = { httpsRedirect: true }) },
  { slot: "http.hosts", accepted: false, cite: `${A} validateSidecarOrGatewayHostnamePart`, apply: (r) => void (firstServer(r).hosts = ["webapp"]) },
  { slot: "http.hosts", accepted: false, cite: `${A} ValidatePartialWildCard`, apply: (r) => void (firstServer(r).hosts = ["*app.example.com"]) },
  { slot: "http.hosts", accepted: true, cite: `${A} (IP allowed)`, apply: (r) => void (firstServer(r).hosts = ["192.168.1.10"]) },
  { slot: "http.hosts", accepted: true, cite: `${A} ValidateNamespaceSlashWildcardHostname`, apply: (r) => void (firstServer(r).hosts = ["*/*.example.com"]) },
  { slot: "http.name", accepted: true, cite: `${V} ValidateGateway (no server-name rule)`, apply: (r) => void ((spec(r).servers as Json[]).forEach((s) => void (s.name = "same"))) },
  { slot: "selector", accepted: true, cite: `${V} ValidateGateway (selector unchecked)`, apply: (r) => void (spec(r).selector = { "odd key!": "x" }) },
  { slot: "https.versions", accepted: true, cite: `${V} validateTLSOptions (no min/max rule)`, apply: (r) => void Object.assign((spec(r).servers as Json[])[1] as Json, { tls: { mode: "SIMPLE", credentialName: "c", minProtocolVersion: "TLSV1_3", maxProtocolVersion: "TLSV1_2" } }) },
  { slot: "https.versions", accepted: false, cite: `${V} validateTLSOptions`, apply: (r) => void Object.assign((spec(r).servers as Json[])[1] as Json, { tls: { mode: "MUTUAL", serverCertificate: "/c", privateKey: "/k" } }) },
  { slot: "https.versions", accepted: false, cite: `${V} validateTLSOptions`, apply: (r) => void Object.assign((spec(r).servers as Json[])[1] as Json, { tls: { mode: "SIMPLE", serverCertificate: "/c", privateKey: "/k", caCrl: "/crl" } }) },
  { slot: "port", accepted: false, cite: `${V} validateServerPort`, apply: (r) => void (firstServer(r).port = { number: 80, name: "http", protocol: "HTTP", targetPort: 8080 }) },
  { slot: "port", accepted: false, cite: `${V} ValidateGateway (port names unique)`, apply: (r) => void (firstServer(r).port = { number: 80, name: "https", protocol: "HTTP" }) },
  { slot: "name", accepted: false, cite: `${V} ValidateGateway (IsDNS1123Label)`, apply: (r) => void ((r.metadata as Json).name = "gw.v2") },
];

/** A small linear congruential generator: deterministic across Node versions. */
function random(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % n;
  };
}

function generate(count: number, seed: number): { resource: Json; mutations: Mutation[] }[] {
  const next = random(seed);
  const kinds: [() => Json, Mutation[]][] = [
    [baseVirtualService, vsMutations],
    [baseDestinationRule, drMutations],
    [baseGateway, gwMutations],
  ];
  const out: { resource: Json; mutations: Mutation[] }[] = [];
  for (let index = 0; index < count; index++) {
    const [base, pool] = kinds[next(kinds.length)] ?? kinds[0]!;
    const resource = base();
    const chosen: Mutation[] = [];
    for (let attempt = 0, wanted = 1 + next(3); attempt < 10 && chosen.length < wanted; attempt++) {
      const mutation = pool[next(pool.length)];
      if (mutation && !chosen.some((m) => m.slot === mutation.slot)) chosen.push(mutation);
    }
    for (const mutation of chosen) mutation.apply(resource);
    out.push({ resource, mutations: chosen });
  }
  return out;
}

test("1,000 generated manifests: pilotfish refuses exactly those Istio refuses", () => {
  const generated = generate(1000, 16);
  let refused = 0;
  const disagreements: string[] = [];
  for (const { resource, mutations } of generated) {
    const expectAccepted = mutations.every((m) => m.accepted);
    const findings = validateResource(resource);
    const accepted = !hasErrors(findings);
    if (!accepted) refused++;
    if (accepted !== expectAccepted) {
      disagreements.push(`${String(resource.kind)} with [${mutations.map((m) => `${m.slot}: ${m.cite}`).join("; ")}] → ${accepted ? "accepted" : "refused"}: ${JSON.stringify(findings)}`);
    }
  }
  assert.deepEqual(disagreements.slice(0, 5), [], `${disagreements.length} disagreements`);
  // The generator must exercise both verdicts.
  assert.ok(refused > 200 && refused < 900, `refused ${refused} of 1000`);
});

test("each base manifest is valid on its own", () => {
  for (const base of [baseVirtualService(), baseDestinationRule(), baseGateway()]) assert.deepEqual(validateResource(base), []);
});
