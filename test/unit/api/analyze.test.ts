import { test } from "node:test";
import assert from "node:assert/strict";
import { analyzeText } from "../../../src/cli/commands/analyze.js";

const text = `
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: gw
  namespace: istioinaction
spec:
  servers:
  - port: {number: 80, name: http, protocol: HTTP, targetPort: 8080}
    hosts: ["webapp.istioinaction.io"]
---
apiVersion: v1
kind: Service
metadata: {name: webapp}
spec: {ports: [{port: 80}]}
---
apiVersion: telemetry.istio.io/v1alpha1
kind: Telemetry
metadata: {name: t}
spec: {}
---
admin: {address: {socket_address: {address: 0.0.0.0, port_value: 15000}}}
`;

test("analyze prints path: Kind ns/name: field: message, skips plain Kubernetes kinds, flags unsupported Istio kinds", () => {
  const lines = analyzeText("x.yaml", text, "default");
  assert.deepEqual(
    lines.map((l) => [l.severity, l.text.split(": ").slice(0, 3).join(": ")]),
    [
      ["error", "x.yaml: Gateway istioinaction/gw: spec.servers[0].port.targetPort"],
      ["warning", "x.yaml: Telemetry default/t: kind"],
    ],
  );
  assert.match(lines[1]?.text ?? "", /Telemetry is not supported yet by pilotfish/);
});

test("broken YAML is one readable error", () => {
  const [line] = analyzeText("bad.yaml", "a: [1,\n", "default");
  assert.equal(line?.severity, "error");
  assert.match(line?.text ?? "", /^bad\.yaml: YAML: /);
});

test("analyze follows Istio's verdicts: what Istio accepts passes (warnings stay warnings), RE2-invalid regexes are refused", () => {
  const manifest = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: shop}
spec:
  hosts: [webapp.example.com]
  gateways: [istio-system/gw]
  http:
  - match: [{port: 0, uri: {prefix: ""}, headers: {":authority": {exact: webapp.example.com}}}]
    headers: {request: {set: {host: other.example.com}}}
    fault: {abort: {httpStatus: 600, percentage: {value: 1}}}
    mirror: {host: shadow}
    mirrorPercent: 5
    route: [{destination: {host: webapp, subset: ""}}]
  - match: [{uri: {regex: "/a\\\\C"}}]
    route: [{destination: {host: webapp}}]
`;
  const lines = analyzeText("vs.yaml", manifest, "default");
  assert.deepEqual(
    lines.map((l) => [l.severity, l.text.split(": ").slice(0, 3).join(": ")]),
    [
      ["warning", "vs.yaml: VirtualService shop/vs: spec.http[0].mirrorPercent"],
      ["error", "vs.yaml: VirtualService shop/vs: spec.http[1].match[0].uri.regex"],
    ],
  );
});
