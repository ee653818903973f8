/**
 * The gateway bootstrap's ADS client per mode (src/publish/bootstrap.ts): `ads` with the
 * operator's TLS and authentication reads the pod's CA root and projected token from files
 * (Envoy's Google gRPC client); plaintext `ads` and `agent` use Envoy's gRPC client on the
 * static xds-grpc cluster. Envoy loads the TLS bootstrap in test/integration/xds/operator-ads-mode.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gatewayBootstrap, gatewayCaRootPath, gatewayTokenPath } from "../../../src/publish/bootstrap.js";
import type { GatewayBootstrapOptions } from "../../../src/publish/bootstrap.js";

const base: GatewayBootstrapOptions = { configDir: "/etc/pilotfish/proxy", adminPort: 15000, statusPort: 15021, proxyName: "istio-ingressgateway", proxyNamespace: "istio-system" };

interface Shape {
  dynamic_resources: { ads_config: { api_type: string; grpc_services: Array<Record<string, Record<string, unknown>>> } };
  static_resources: { clusters: Array<{ name: string; type: string }> };
}
const shape = (options: Partial<GatewayBootstrapOptions>): Shape => gatewayBootstrap({ ...base, ...options }) as unknown as Shape;

describe("gateway bootstrap: the ADS client per mode", () => {
  it("ads with TLS: Envoy's Google gRPC client, the mounted CA root, the token file as authorization, the server verified by name whatever address is dialled", () => {
    const bootstrap = shape({ mode: "ads", xdsAddress: "198.19.127.1:15010", xdsTls: { serverName: "pilotfish.istio-system.svc" } });
    const [service] = bootstrap.dynamic_resources.ads_config.grpc_services;
    const google = service?.google_grpc as Record<string, unknown>;
    assert.equal(google.target_uri, "198.19.127.1:15010");
    assert.deepEqual(google.channel_credentials, { ssl_credentials: { root_certs: { filename: gatewayCaRootPath } } });
    const text = JSON.stringify(google);
    assert.ok(text.includes(`"secret_data":{"filename":"${gatewayTokenPath}"}`), text);
    assert.ok(text.includes('"header_key":"authorization","header_prefix":"Bearer "'), text);
    assert.ok(text.includes('"grpc.ssl_target_name_override":{"string_value":"pilotfish.istio-system.svc"}'), text);
    assert.equal(service?.envoy_grpc, undefined);
    assert.deepEqual(bootstrap.static_resources.clusters.map((cluster) => cluster.name), ["pilotfish-admin"], "no xds-grpc cluster: the Google gRPC client dials itself");
    assert.equal(bootstrap.dynamic_resources.ads_config.api_type, "DELTA_GRPC");
  });

  it("plaintext ads and agent: Envoy's gRPC client on the static xds-grpc cluster, no token", () => {
    const plaintext = shape({ mode: "ads", xdsAddress: "pilotfish.istio-system.svc:15010" });
    assert.deepEqual(plaintext.dynamic_resources.ads_config.grpc_services, [{ envoy_grpc: { cluster_name: "xds-grpc" } }]);
    assert.deepEqual(plaintext.static_resources.clusters.map((cluster) => [cluster.name, cluster.type]), [["pilotfish-admin", "STATIC"], ["xds-grpc", "STRICT_DNS"]]);
    const agent = shape({ mode: "agent", xdsTls: { serverName: "ignored" } });
    assert.deepEqual(agent.dynamic_resources.ads_config.grpc_services, [{ envoy_grpc: { cluster_name: "xds-grpc" } }], "the agent's socket is pod-local: the agent does TLS upstream");
    assert.throws(() => shape({ mode: "ads", xdsTls: { serverName: "pilotfish.istio-system.svc" } }), /--xds-proxy-address/);
  });
});
