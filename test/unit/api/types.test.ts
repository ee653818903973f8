import { test } from "node:test";
import assert from "node:assert/strict";
import { parseDuration } from "../../../src/api/index.js";
import type { Gateway, ServerTLSSettings, StringMatch, VirtualService, DestinationRule, IstioResource } from "../../../src/api/index.js";

test("types describe the lab manifests (compile-time check, kept honest by tsc)", () => {
  const gateway: Gateway = {
    apiVersion: "networking.istio.io/v1alpha3",
    kind: "Gateway",
    metadata: { name: "coolstore-gateway" },
    spec: {
      selector: { istio: "ingressgateway" },
      servers: [
        { port: { number: 443, name: "https", protocol: "HTTPS" }, hosts: ["webapp.istioinaction.io"], tls: { mode: "SIMPLE", credentialName: "webapp-credential" } },
      ],
    },
  };
  const vs: VirtualService = {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "webapp-vs-from-gw" },
    spec: {
      hosts: ["webapp.istioinaction.io"],
      gateways: ["coolstore-gateway"],
      http: [{ match: [{ uri: { prefix: "/api" } }], route: [{ destination: { host: "webapp", port: { number: 80 } } }], timeout: "1s", retries: { attempts: 3, retryOn: "5xx" } }],
    },
  };
  const dr: DestinationRule = {
    apiVersion: "networking.istio.io/v1beta1",
    kind: "DestinationRule",
    metadata: { name: "catalog" },
    spec: { host: "catalog", subsets: [{ name: "v1", labels: { version: "v1" } }], trafficPolicy: { loadBalancer: { simple: "ROUND_ROBIN" } } },
  };
  // @ts-expect-error an unknown TLS mode is not a ServerTLSSettings
  const badMode: ServerTLSSettings = { mode: "SIMPLEST" };
  // @ts-expect-error a StringMatch holds one of exact/prefix/regex, never two
  const twoMatches: StringMatch = { exact: "/a", prefix: "/b" };
  const all: IstioResource[] = [gateway, vs, dr];
  assert.deepEqual(all.map((r) => r.kind), ["Gateway", "VirtualService", "DestinationRule"]);
  assert.ok(badMode && twoMatches);
});

const durations: [string, number][] = [
  ["1s", 1000],
  ["0.5s", 500],
  ["100ms", 100],
  ["1m30s", 90_000],
  ["2h", 7_200_000],
  ["0.001s", 1],
  ["1.5ms", 1.5],
  ["500us", 0.5],
  ["0", 0],
  ["10.s", 10_000],
  ["0.1s", 100],
];
for (const [text, ms] of durations) {
  test(`parseDuration(${JSON.stringify(text)}) = ${ms} ms`, () => {
    assert.deepEqual(parseDuration(text), { ms });
  });
}

for (const text of ["", "1", "s", "1 s", "1sec", "1.2.3s", "abc", "1s2"]) {
  test(`parseDuration(${JSON.stringify(text)}) is an error`, () => {
    const result = parseDuration(text);
    assert.ok("error" in result, `expected an error, got ${JSON.stringify(result)}`);
  });
}
