import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { passthroughBootstrap } from "../../../src/webhook/inject/bootstrap.js";
import { validateEnvoyConfig } from "../../support/envoy.js";

describe("the injected proxy's passthrough bootstrap", () => {
  it("passes envoy --mode validate", async () => {
    const result = await validateEnvoyConfig(passthroughBootstrap());
    assert.ok(result.ok, result.output);
  });

  it("has Istio's listener and cluster names", () => {
    const resources = passthroughBootstrap().static_resources as { listeners: Array<{ name: string; address: { socket_address: { port_value: number } } }>; clusters: Array<{ name: string }> };
    assert.deepEqual(resources.listeners.map((l) => [l.name, l.address.socket_address.port_value]), [["virtualOutbound", 15001], ["virtualInbound", 15006], ["status", 15021], ["prometheus", 15090], ["agent-prometheus", 15020]]);
    assert.deepEqual(resources.clusters.map((c) => c.name), ["PassthroughCluster", "InboundPassthroughCluster", "pilotfish-admin"]);
  });
});
