import { test } from "node:test";
import assert from "node:assert/strict";
import { compileGateway } from "../../../src/compile/compile.js";
import { meshConfig, meshDefaults } from "../../../src/compile/mesh.js";
import type { CompileOptions } from "../../../src/compile/output.js";
import type { EnvoyJson } from "../../../src/envoy/resources.js";
import { defaultIngressGatewayProxy } from "../../../src/model/proxy.js";
import { parseManifests } from "../../../src/model/manifests.js";
import { buildSnapshot } from "../../../src/model/snapshot.js";

const manifests = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["shop.example.test"]
  - port: {number: 9000, name: tcp, protocol: TCP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: shop}
spec:
  hosts: ["shop.example.test", "*"]
  gateways: [gw]
  http:
  - route: [{destination: {host: grpc-api}}]
  tcp:
  - route: [{destination: {host: grpc-api}}]
---
apiVersion: v1
kind: Service
metadata: {name: grpc-api, namespace: shop}
spec:
  ports: [{name: grpc-web, port: 8080}]
`;

function compile(options?: CompileOptions) {
  return compileGateway(buildSnapshot(parseManifests([manifests], "shop").inputs), defaultIngressGatewayProxy, options);
}

function hcm(listener: EnvoyJson | undefined): EnvoyJson {
  const chains = (listener?.filter_chains ?? []) as EnvoyJson[];
  const filters = (chains[0]?.filters ?? []) as EnvoyJson[];
  return filters[0]?.typed_config as EnvoyJson;
}

test("Istio's defaults: access logs off, LEAST_REQUEST, panic mode off, HTTP/2 to grpc ports", () => {
  const { resources } = compile();
  const http = resources.listeners.find((l) => l.name === "0.0.0.0_8080");
  const tcp = resources.listeners.find((l) => l.name === "0.0.0.0_9000");
  assert.equal(hcm(http).access_log, undefined);
  assert.equal(hcm(tcp).access_log, undefined);
  assert.equal(http?.access_log, undefined);
  const cluster = resources.clusters[0];
  assert.equal(cluster?.lb_policy, "LEAST_REQUEST");
  assert.deepEqual(cluster?.common_lb_config, { healthy_panic_threshold: {} });
  assert.deepEqual(
    (cluster?.typed_extension_protocol_options as EnvoyJson)["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"],
    { "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions", explicit_http_config: { http2_protocol_options: {} } },
  );
});

test("the seeds' access log (/dev/stdout) on HCMs, TCP proxies and the listener (NR only)", () => {
  const { resources } = compile({ defaultRetryOn503: false, mesh: { accessLogFile: "/dev/stdout" } });
  const http = resources.listeners.find((l) => l.name === "0.0.0.0_8080");
  const tcp = resources.listeners.find((l) => l.name === "0.0.0.0_9000");
  assert.equal((hcm(http).access_log as EnvoyJson[])[0]?.name, "envoy.access_loggers.stdout");
  assert.equal((hcm(tcp).access_log as EnvoyJson[])[0]?.name, "envoy.access_loggers.stdout");
  assert.deepEqual((http?.access_log as EnvoyJson[])[0]?.filter, { response_flag_filter: { flags: ["NR"] } });
  const file = compile({ defaultRetryOn503: false, mesh: { accessLogFile: "/var/log/envoy/access.log" } });
  const logger = (hcm(file.resources.listeners[0]).access_log as EnvoyJson[])[0];
  assert.equal(logger?.name, "envoy.access_loggers.file");
  assert.equal((logger?.typed_config as EnvoyJson).path, "/var/log/envoy/access.log");
});

test("meshConfig: overrides win; mesh.defaultRetryOn503 wins over the old top-level switch", () => {
  assert.equal(meshConfig(undefined).accessLogFile, "");
  assert.equal(meshConfig({ defaultRetryOn503: true }).defaultRetryOn503, true);
  assert.equal(meshConfig({ defaultRetryOn503: true, mesh: { defaultRetryOn503: false } }).defaultRetryOn503, false);
  assert.equal(meshConfig({ mesh: { connectTimeoutMs: 2500 } }).connectTimeoutMs, 2500);
  assert.equal(meshDefaults.gatewayTransportSocketConnectTimeoutMs, 15_000);
  const { resources } = compile({ defaultRetryOn503: false, mesh: { connectTimeoutMs: 2500, gatewayTransportSocketConnectTimeoutMs: 0 } });
  assert.equal(resources.clusters[0]?.connect_timeout, "2.5s");
  for (const listener of resources.listeners) {
    for (const chain of listener.filter_chains as EnvoyJson[]) assert.equal(chain.transport_socket_connect_timeout, undefined);
  }
});
