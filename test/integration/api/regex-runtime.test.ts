/**
 * Istio's bootstrap raises `re2.max_program_size.error_level` to 32768 (istio/istio
 * pkg/bootstrap/config.go `extractRuntimeFlags`, written into the layered_runtime static layer of
 * tools/packaging/common/envoy_bootstrap.json), so Istio accepts `a{1000}`. pilotfish's bootstraps
 * set the same runtime; this proves with `envoy --mode validate` that it is what makes Envoy load
 * such a pattern, and that pilotfish's validator now uses the same limit.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { compileGateway } from "../../../src/compile/compile.js";
import { fileBootstrap, istioRuntimeLayers, staticBootstrap } from "../../../src/envoy/bootstrap.js";
import { compileRe2, ENVOY_MAX_PROGRAM_SIZE, regexProblem } from "../../../src/api/validation/regex.js";
import { validateResource } from "../../../src/api/validation/index.js";
import { defaultIngressGatewayProxy } from "../../../src/model/proxy.js";
import { parseManifests } from "../../../src/model/manifests.js";
import { buildSnapshot } from "../../../src/model/snapshot.js";
import { validateEnvoyConfig } from "../../support/envoy.js";

const pattern = "/a{1000}";

const manifests = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["shop.example.test"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: shop}
spec:
  hosts: ["shop.example.test"]
  gateways: [gw]
  http:
  - match: [{uri: {regex: "${pattern}"}}]
    route: [{destination: {host: catalog}}]
---
apiVersion: v1
kind: Service
metadata: {name: catalog, namespace: shop}
spec:
  ports: [{name: http, port: 80}]
`;

function compiled() {
  const { inputs } = parseManifests([manifests], "shop");
  const result = compileGateway(buildSnapshot(inputs), defaultIngressGatewayProxy);
  assert.ok(JSON.stringify(result.resources.routes).includes(JSON.stringify(pattern)), "the route carries the pattern");
  return result;
}

test(`${pattern}: program size between Envoy's default 100 and Istio's 32768`, () => {
  const estimate = compileRe2(pattern, 1_000_000);
  assert.ok(!("error" in estimate));
  assert.ok(estimate.programSize > 100 && estimate.programSize < 32768, String(estimate.programSize));
});

test("pilotfish's bootstraps carry Istio's runtime: re2.max_program_size.error_level 32768", () => {
  const expected = { layers: istioRuntimeLayers() };
  assert.deepEqual(istioRuntimeLayers()[0], { name: "global config", static_layer: { "re2.max_program_size.error_level": "32768" } });
  assert.deepEqual(fileBootstrap("/etc/pilotfish", { adminPort: 15000 }).layered_runtime, expected);
  assert.deepEqual(staticBootstrap(compiled().resources, { adminPort: 0 }).layered_runtime, expected);
});

test("envoy --mode validate accepts the route with Istio's runtime and refuses it without", async () => {
  const bootstrap = staticBootstrap(compiled().resources, { adminPort: 0 });
  const withRuntime = await validateEnvoyConfig(bootstrap);
  assert.ok(withRuntime.ok, withRuntime.output);
  const { layered_runtime: _runtime, ...withoutRuntime } = bootstrap;
  const refused = await validateEnvoyConfig(withoutRuntime);
  assert.equal(refused.ok, false, "Envoy's default limit (100) refuses it");
  assert.match(refused.output, /program size/i);
});

test("the validator's limit is Istio's: a{1000} and a 1,024-character literal accepted, above 32768 refused", () => {
  assert.equal(ENVOY_MAX_PROGRAM_SIZE, 32768);
  assert.equal(regexProblem(pattern), undefined);
  assert.equal(regexProblem("a".repeat(1024)), undefined);
  assert.match(regexProblem("[a-z]{1000}".repeat(33)) ?? "", /above Envoy's limit of 32768/);
  const vs = parseManifests([manifests], "shop").inputs.virtualServices[0];
  assert.ok(vs);
  assert.deepEqual(validateResource(vs).filter((finding) => finding.severity === "error"), []);
});
