/**
 * Every field of the API (the generated JSON Schemas) says where the compiler handles it, or is
 * reported when set: the compiler never ignores a field silently.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { compileGateway } from "../../../src/compile/compile.js";
import { fieldSupport, notCompiledDiagnostics, supportFor, supportKey } from "../../../src/compile/field-support.js";
import { defaultIngressGatewayProxy } from "../../../src/model/proxy.js";
import { parseManifests } from "../../../src/model/manifests.js";
import { buildSnapshot } from "../../../src/model/snapshot.js";

type Kind = keyof typeof fieldSupport;
type Schema = { [key: string]: unknown };

/** Leaf paths of a JSON Schema below `spec` (`[]` array items, `{}` map values), $refs followed. */
function schemaLeaves(kind: Kind): string[] {
  const root = JSON.parse(readFileSync(fileURLToPath(new URL(`../../../src/api/generated/${kind}.schema.json`, import.meta.url)), "utf8")) as Schema;
  const defs = (root.$defs ?? root.definitions ?? {}) as Record<string, Schema>;
  const leaves = new Set<string>();
  const walk = (node: Schema | undefined, path: string, depth: number): void => {
    if (!node || depth > 40) return;
    if (typeof node.$ref === "string") {
      const target = defs[node.$ref.split("/").pop() ?? ""];
      if (path.split(".").length < 18) walk(target, path, depth + 1);
      return;
    }
    let branches = false;
    for (const key of ["anyOf", "oneOf", "allOf"]) {
      for (const sub of (node[key] as Schema[] | undefined) ?? []) {
        branches = true;
        walk(sub, path, depth + 1);
      }
    }
    let container = false;
    for (const [name, sub] of Object.entries((node.properties as Record<string, Schema> | undefined) ?? {})) {
      container = true;
      walk(sub, `${path}.${name}`, depth + 1);
    }
    if (node.items && typeof node.items === "object") {
      container = true;
      walk(node.items as Schema, `${path}[]`, depth + 1);
    }
    if (node.additionalProperties && typeof node.additionalProperties === "object" && Object.keys(node.additionalProperties).length > 0) {
      container = true;
      walk(node.additionalProperties as Schema, `${path}{}`, depth + 1);
    }
    if (!container && !branches) leaves.add(supportKey(path));
  };
  walk((root.properties as Record<string, Schema>).spec, "spec", 0);
  return [...leaves].sort();
}

for (const kind of Object.keys(fieldSupport) as Kind[]) {
  test(`${kind}: every schema field is compiled or reported when set`, () => {
    const leaves = schemaLeaves(kind);
    assert.ok(leaves.length > 20, `found ${leaves.length} fields`);
    const missing = leaves.filter((path) => supportFor(kind, path) === undefined);
    assert.deepEqual(missing, [], `add these ${kind} fields to src/compile/field-support.ts`);
  });
}

test("a field the compiler does not compile gives a warning naming it, once per field", () => {
  const diagnostics = notCompiledDiagnostics(
    "DestinationRule",
    {
      metadata: { name: "dr", namespace: "shop" },
      spec: {
        host: "a",
        trafficPolicy: { tunnel: { protocol: "CONNECT", targetHost: "x", targetPort: 1 }, loadBalancer: { simple: "RANDOM", warmupDurationSecs: "10s" } },
        subsets: [{ name: "v1", labels: { tunnel: "x" }, trafficPolicy: { tunnel: { protocol: "POST", targetHost: "y", targetPort: 2 } } }],
      },
    },
    "shop",
  );
  assert.deepEqual(
    diagnostics.map((d) => [d.field, d.message]),
    [
      ["spec.trafficPolicy.tunnel", "not compiled by pilotfish: tunnelling (HTTP CONNECT) is not compiled yet; ignored"],
      ["spec.trafficPolicy.loadBalancer.warmupDurationSecs", "not compiled by pilotfish: slow start (warmupDurationSecs) is not compiled yet; ignored"],
    ],
  );
});

test("a resource's diagnostics are kept per object (the informers replace, never mutate, a resource): same answer, and a caller's edits do not leak", () => {
  const resource = { metadata: { name: "vs", namespace: "shop" }, spec: { hosts: ["a"], http: [{ delegate: { name: "d" } }], tcp: [{ match: [{ sourceLabels: { app: "x" } }] }] } };
  const first = notCompiledDiagnostics("VirtualService", resource, "shop");
  assert.ok(first.length > 0);
  first.pop();
  const second = notCompiledDiagnostics("VirtualService", resource, "shop");
  assert.equal(second.length, first.length + 1);
  assert.deepEqual(second, notCompiledDiagnostics("VirtualService", structuredClone(resource), "shop"));
  // Another namespace (the default one) is another answer, not the cached one.
  assert.ok(notCompiledDiagnostics("VirtualService", resource, "default").every((d) => d.namespace === "default"));
});

test("compileGateway reports not-compiled fields of its Gateways, bound VirtualServices and routed DestinationRules", () => {
  const manifests = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
    bind: 10.0.0.1
  - port: {number: 31400, name: tcp, protocol: TCP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: shop}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - match: [{sourceLabels: {istio: ingressgateway}}]
    route: [{destination: {host: backend, port: {number: 80}}}]
  tcp:
  - match: [{sourceSubnet: 10.0.0.0/8}]
    route: [{destination: {host: backend, port: {number: 80}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: backend, namespace: shop}
spec:
  host: backend
  trafficPolicy: {connectionPool: {tcp: {idleTimeout: 1h}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: unrelated, namespace: shop}
spec:
  host: unrelated
  trafficPolicy: {proxyProtocol: {version: V1}}
`;
  const { diagnostics } = compileGateway(buildSnapshot(parseManifests([manifests], "shop").inputs), defaultIngressGatewayProxy);
  const reported = diagnostics.filter((d) => d.message.startsWith("not compiled by pilotfish")).map((d) => `${d.kind} ${d.name} ${d.field}`);
  assert.deepEqual(reported, [
    "DestinationRule backend spec.trafficPolicy.connectionPool.tcp.idleTimeout",
    "Gateway gw spec.servers[0].bind",
    "VirtualService vs spec.tcp[0].match[0].sourceSubnet",
  ]);
});
