/**
 * The standalone file source: the pilotfish.io/endpoints annotation → EndpointSlices the compiler
 * reads, and a folder state taken or refused as a whole with file/resource/field/fix named.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { compileGateway } from "../../../src/compile/compile.js";
import { buildSnapshot } from "../../../src/model/snapshot.js";
import { annotatedEndpointSlices, configStateFromFiles, formatProblem } from "../../../src/sources/files/index.js";
import type { Service } from "../../../src/model/kube.js";

const service = (annotation: string | undefined, ports: Service["spec"] extends infer S ? (S extends { ports?: infer P } ? P : never) : never): Service => ({
  metadata: { name: "web", namespace: "shop", ...(annotation === undefined ? {} : { annotations: { "pilotfish.io/endpoints": annotation } }) },
  spec: { ports },
});

test("endpoints annotation: a one-port Service takes bare addresses; slices per endpoint port", () => {
  const result = annotatedEndpointSlices(service("127.0.0.1:8081, 127.0.0.2:8081 127.0.0.3:9000", [{ name: "http", port: 80 }]));
  assert.ok(result.ok);
  assert.equal(result.slices.length, 2);
  assert.deepEqual(result.slices[0]?.ports, [{ name: "http", port: 8081, protocol: "TCP" }]);
  assert.deepEqual(
    result.slices[0]?.endpoints?.map((e) => e.addresses[0]),
    ["127.0.0.1", "127.0.0.2"],
  );
  assert.equal(result.slices[0]?.metadata.labels?.["kubernetes.io/service-name"], "web");
  assert.equal(result.slices[0]?.metadata.namespace, "shop");
  assert.deepEqual(result.slices[1]?.ports, [{ name: "http", port: 9000, protocol: "TCP" }]);
});

test("endpoints annotation: port name or number selects the Service port", () => {
  const result = annotatedEndpointSlices(service("http=127.0.0.1:8081 9000=127.0.0.1:9001", [{ name: "http", port: 80 }, { name: "tcp", port: 9000 }]));
  assert.ok(result.ok);
  assert.deepEqual(
    result.slices.map((s) => s.ports?.[0]?.name),
    ["http", "tcp"],
  );
  assert.deepEqual(annotatedEndpointSlices(service(undefined, [{ port: 80 }])), { ok: true, slices: [] });
});

test("endpoints annotation: each mistake is named with its fix", () => {
  const cases: [string, Parameters<typeof service>[1], RegExp][] = [
    ["localhost:80", [{ port: 80 }], /"localhost:80" is not an IPv4 address and port: write it as 127\.0\.0\.1:8080/],
    ["127.0.0.1", [{ port: 80 }], /is not an IPv4 address and port/],
    ["127.0.0.1:70000", [{ port: 80 }], /is not an IPv4 address and port/],
    ["127.0.0.1:80", [{ name: "a", port: 1 }, { name: "b", port: 2 }], /2 ports: prefix each address with its port's name, e.g\. a=127\.0\.0\.1:8080/],
    ["c=127.0.0.1:80", [{ name: "a", port: 1 }], /no Service port named c \(ports: a\)/],
    ["127.0.0.1:80", [], /no ports: add spec\.ports/],
    [" , ", [{ port: 80 }], /empty/],
  ];
  for (const [annotation, ports, message] of cases) {
    const result = annotatedEndpointSlices(service(annotation, ports));
    assert.equal(result.ok, false, annotation);
    if (!result.ok) {
      assert.equal(result.problem.field, 'metadata.annotations["pilotfish.io/endpoints"]');
      assert.match(result.problem.message, message, annotation);
    }
  }
});

const gatewayFile = {
  path: "gw.yaml",
  text: `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: shop }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["a.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web, namespace: shop }
spec:
  hosts: ["a.example.com"]
  gateways: [gw]
  http:
  - route:
    - destination: { host: web }
`,
};

test("config state: annotated endpoints reach the compiled EDS; the default gateway proxy", () => {
  const state = configStateFromFiles([
    gatewayFile,
    { path: "svc.yaml", text: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\n  annotations: { pilotfish.io/endpoints: "127.0.0.1:8081" }\nspec:\n  ports: [{ name: http, port: 80 }]\n' },
  ]);
  assert.ok(state.ok, JSON.stringify(state));
  assert.deepEqual(state.warnings, []);
  assert.equal(`${state.proxy.namespace}/${state.proxy.name}`, "istio-system/istio-ingressgateway");
  const result = compileGateway(buildSnapshot(state.inputs), state.proxy);
  const endpoints = JSON.stringify(result.resources.endpoints);
  assert.match(endpoints, /"address":"127\.0\.0\.1","port_value":8081/);
});

test("config state: an ingress Service in the folder is the gateway proxy", () => {
  const state = configStateFromFiles([
    gatewayFile,
    { path: "ingress.yaml", text: "apiVersion: v1\nkind: Service\nmetadata: { name: edge, namespace: gw }\nspec:\n  selector: { istio: ingressgateway }\n  ports: [{ name: http, port: 80, targetPort: 9080 }]\n" },
  ]);
  assert.ok(state.ok);
  assert.equal(`${state.proxy.namespace}/${state.proxy.name}`, "gw/edge");
  assert.deepEqual(state.proxy.servicePorts[0], { name: "http", port: 80, targetPort: 9080, nodePort: undefined, protocol: undefined });
});

test("config state: refused as a whole on errors, each naming file, resource and field", () => {
  const state = configStateFromFiles([
    { path: "gw.yaml", text: gatewayFile.text.replace("protocol: HTTP", "protocol: HTTPX") },
    { path: "broken.yaml", text: "kind: Service\nmetadata: { name: x\n" },
    { path: "mesh.yaml", text: "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: p, namespace: shop }\n" },
  ]);
  assert.equal(state.ok, false);
  if (state.ok) return;
  const lines = state.problems.map(formatProblem);
  assert.ok(lines.some((line) => /^gw\.yaml: Gateway shop\/gw: spec\.servers\[0\]\.port\.protocol: invalid protocol "HTTPX"/.test(line)), lines.join("\n"));
  assert.ok(lines.some((line) => /^broken\.yaml: invalid YAML at line \d+, column \d+: .*; fix the file and save it again$/.test(line)), lines.join("\n"));
  assert.ok(lines.some((line) => /^mesh\.yaml: PeerAuthentication shop\/p: kind: warning: PeerAuthentication is not supported by pilotfish; ignored$/.test(line)), lines.join("\n"));
});

test("config state: a Service without endpoints is a warning, not a refusal", () => {
  const state = configStateFromFiles([gatewayFile, { path: "svc.yaml", text: "apiVersion: v1\nkind: Service\nmetadata: { name: web, namespace: shop }\nspec:\n  ports: [{ name: http, port: 80 }]\n" }]);
  assert.ok(state.ok);
  assert.deepEqual(state.warnings.map(formatProblem), [
    'svc.yaml: Service shop/web: warning: has no endpoints (requests to it get 503): add the annotation pilotfish.io/endpoints: "127.0.0.1:<port>" or an EndpointSlice',
  ]);
});
