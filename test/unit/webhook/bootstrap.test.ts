import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCa } from "../../../src/pki/index.js";
import { adsSidecarBootstrap, caRootPath, passthroughBootstrap, tokenPath } from "../../../src/webhook/inject/bootstrap.js";
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

describe("the injected proxy's ADS bootstrap", () => {
  const bootstrap = adsSidecarBootstrap({ host: "198.19.127.1", port: 15010 });

  it("passes envoy --mode validate (by IP and by DNS name)", async () => {
    for (const config of [bootstrap, adsSidecarBootstrap({ host: "pilotfish.istio-system.svc", port: 15012 })]) {
      const result = await validateEnvoyConfig(config);
      assert.ok(result.ok, result.output);
    }
  });

  it("names the proxy key through the kubelet's $(VAR) expansion, and uses no other $", () => {
    const node = bootstrap.node as { id: string; metadata: Record<string, string> };
    assert.equal(node.id, "sidecar~$(INSTANCE_IP)~$(POD_NAME).$(POD_NAMESPACE)~$(POD_NAMESPACE).svc.cluster.local");
    assert.equal(node.metadata.NAMESPACE, "$(POD_NAMESPACE)");
    assert.equal(node.metadata.WORKLOAD_NAME, "$(ISTIO_META_WORKLOAD_NAME)");
    const references = JSON.stringify(bootstrap).match(/\$[^(]|\$\([^)]*\)/g) ?? [];
    const env = new Set(["INSTANCE_IP", "POD_NAME", "POD_NAMESPACE", "ISTIO_META_WORKLOAD_NAME", "SERVICE_ACCOUNT", "ISTIO_META_CLUSTER_ID", "ISTIO_META_MESH_ID"]);
    for (const reference of references) assert.ok(env.has(reference.slice(2, -1)), `${reference} is an env var of istio-proxy`);
  });

  it("waits for the first LDS and CDS response (not ready until config arrives) and keeps the status listeners static", () => {
    const dynamic = bootstrap.dynamic_resources as { lds_config: { initial_fetch_timeout: string }; cds_config: { initial_fetch_timeout: string } };
    assert.equal(dynamic.lds_config.initial_fetch_timeout, "0s");
    assert.equal(dynamic.cds_config.initial_fetch_timeout, "0s");
    assert.match(JSON.stringify(bootstrap.layered_runtime), /re2\.max_program_size\.error_level/, "Istio's regex program size, as the gateways have it");
    const resources = bootstrap.static_resources as { listeners: Array<{ name: string }>; clusters: Array<{ name: string; type: string }> };
    assert.deepEqual(resources.listeners.map((l) => l.name), ["status", "prometheus", "agent-prometheus"]);
    assert.deepEqual(resources.clusters.map((c) => [c.name, c.type]), [["pilotfish-admin", "STATIC"], ["xds-grpc", "STATIC"]]);
  });
});

describe("the injected proxy's ADS bootstrap under the shared xDS contract (TLS + token)", () => {
  const bootstrap = adsSidecarBootstrap({ host: "198.19.127.1", port: 15010, secure: { serverName: "pilotfish.istio-system.svc" } });

  it("passes envoy --mode validate (Envoy reads both files at start: real ones stand in for the mounts)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pilotfish-sidecar-bootstrap-"));
    try {
      const ca = await createCa({ commonName: "bootstrap test CA" });
      writeFileSync(join(dir, "root-cert.pem"), ca.certificatePem);
      writeFileSync(join(dir, "pilotfish-token"), "a.b.c");
      const text = JSON.stringify(bootstrap).replaceAll(caRootPath, join(dir, "root-cert.pem")).replaceAll(tokenPath, join(dir, "pilotfish-token"));
      const result = await validateEnvoyConfig(JSON.parse(text) as typeof bootstrap);
      assert.ok(result.ok, result.output);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("verifies the server as pilotfish.istio-system.svc against the mounted CA root and sends the mounted token as a Bearer", () => {
    const text = JSON.stringify(bootstrap);
    assert.match(text, /"root_certs":\{"filename":"\/var\/run\/pilotfish\/ca\/root-cert\.pem"\}/);
    assert.match(text, /"secret_data":\{"filename":"\/var\/run\/secrets\/tokens\/pilotfish-token"\},"header_key":"authorization","header_prefix":"Bearer "/);
    assert.match(text, /"grpc\.ssl_target_name_override":\{"string_value":"pilotfish\.istio-system\.svc"\}/);
    assert.match(text, /"target_uri":"198\.19\.127\.1:15010"/);
    assert.doesNotMatch(text, /xds-grpc","type"/, "no plaintext cluster");
  });
});
