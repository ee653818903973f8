import { test } from "node:test";
import assert from "node:assert/strict";
import { istioRuntime } from "../../../src/envoy/bootstrap.js";
import { adsBootstrap } from "../../../src/xds/bootstrap.js";

// Found by the hostile set: a gateway on ADS NACKed every RDS update holding `/a{1000}` (program
// size 1005 > Envoy's default 100) although validation accepts up to Istio's 32768.
test("the ADS bootstrap carries Istio's runtime layer (RE2 program size), like the file bootstraps", () => {
  const bootstrap = adsBootstrap({ xdsHost: "127.0.0.1", xdsPort: 15010, adminPort: 15000, namespace: "istio-system", workloadName: "istio-ingressgateway" });
  const layers = (bootstrap.layered_runtime as { layers: { static_layer?: Record<string, string> }[] } | undefined)?.layers ?? [];
  assert.deepEqual(layers.find((layer) => layer.static_layer)?.static_layer, { ...istioRuntime });
});
