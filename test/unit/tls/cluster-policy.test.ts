import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { applyClusterPolicy, effectivePolicy, policyForPort, routeHashPolicy } from "../../../src/compile/cluster-policy.js";
import type { ClusterPolicyInput } from "../../../src/compile/filter-chains/types.js";
import type { EnvoyJson } from "../../../src/envoy/resources.js";
import { defaultIngressGatewayProxy } from "../../../src/model/proxy.js";
import { buildSnapshot } from "../../../src/model/snapshot.js";
import type { Secret } from "../../../src/model/kube.js";
import type { DestinationRule, TrafficPolicy } from "../../../src/api/index.js";
import { createCertificateChainSet } from "../../../src/pki/index.js";
import type { CertificateChainSet } from "../../../src/pki/index.js";

const ref = { name: "outbound|80||webapp.istioinaction.svc.cluster.local", host: "webapp.istioinaction.svc.cluster.local", port: 80 };

function baseCluster(): EnvoyJson {
  return {
    name: ref.name,
    type: "EDS",
    connect_timeout: "10s",
    lb_policy: "ROUND_ROBIN",
    circuit_breakers: { thresholds: [{ max_connections: 4294967295, max_pending_requests: 4294967295, max_requests: 4294967295, max_retries: 4294967295 }] },
  };
}

function input(policy: TrafficPolicy, secrets: Secret[] = []): ClusterPolicyInput {
  return {
    cluster: baseCluster(),
    ref,
    policy: policy as ClusterPolicyInput["policy"],
    snapshot: buildSnapshot({ secrets }),
    proxy: defaultIngressGatewayProxy,
    destinationRule: { namespace: "istioinaction", name: "webapp", field: "spec.trafficPolicy" },
  };
}

describe("load balancer", () => {
  test("simple algorithms", () => {
    const cases: Array<[string, string]> = [["ROUND_ROBIN", "ROUND_ROBIN"], ["LEAST_REQUEST", "LEAST_REQUEST"], ["LEAST_CONN", "LEAST_REQUEST"], ["RANDOM", "RANDOM"]];
    for (const [simple, expected] of cases) {
      const { cluster, diagnostics } = applyClusterPolicy(input({ loadBalancer: { simple: simple as "RANDOM" } }));
      assert.equal(cluster.lb_policy, expected, simple);
      assert.deepEqual(diagnostics, []);
    }
  });

  test("PASSTHROUGH is reported and not applied on a gateway", () => {
    const { cluster, diagnostics } = applyClusterPolicy(input({ loadBalancer: { simple: "PASSTHROUGH" } }));
    assert.equal(cluster.type, "EDS");
    assert.equal(diagnostics[0]?.field, "spec.trafficPolicy.loadBalancer.simple");
    assert.equal(diagnostics[0]?.severity, "warning");
  });

  test("consistent hash → ring hash (Istio's default ring size) or maglev, plus the route hash policy", () => {
    const ring = applyClusterPolicy(input({ loadBalancer: { consistentHash: { httpHeaderName: "x-user" } } })).cluster;
    assert.equal(ring.lb_policy, "RING_HASH");
    assert.deepEqual(ring.ring_hash_lb_config, { minimum_ring_size: 1024 });
    const maglev = applyClusterPolicy(input({ loadBalancer: { consistentHash: { useSourceIp: true, maglev: { tableSize: 65537 } } } })).cluster;
    assert.equal(maglev.lb_policy, "MAGLEV");
    assert.deepEqual(maglev.maglev_lb_config, { table_size: 65537 });
    assert.deepEqual(routeHashPolicy({ httpHeaderName: "x-user" }), [{ header: { header_name: "x-user" } }]);
    assert.deepEqual(routeHashPolicy({ httpCookie: { name: "sticky", path: "/", ttl: "60s" } }), [{ cookie: { name: "sticky", path: "/", ttl: "60s" } }]);
    assert.deepEqual(routeHashPolicy({ useSourceIp: true }), [{ connection_properties: { source_ip: true } }]);
    assert.deepEqual(routeHashPolicy({ httpQueryParameterName: "u" }), [{ query_parameter: { name: "u" } }]);
  });
});

describe("connection pool", () => {
  test("tcp and http settings become circuit breakers, timeouts, keepalive and protocol options", () => {
    const { cluster, diagnostics } = applyClusterPolicy(
      input({
        connectionPool: {
          tcp: { maxConnections: 100, connectTimeout: "30ms", tcpKeepalive: { probes: 3, time: "7200s", interval: "75s" }, maxConnectionDuration: "1h" },
          http: { http1MaxPendingRequests: 10, http2MaxRequests: 1000, maxRequestsPerConnection: 1, maxRetries: 3, idleTimeout: "90s", h2UpgradePolicy: "UPGRADE" },
        },
      }),
    );
    assert.deepEqual(diagnostics, []);
    assert.equal(cluster.connect_timeout, "0.03s");
    assert.deepEqual(cluster.circuit_breakers, { thresholds: [{ max_connections: 100, max_pending_requests: 10, max_requests: 1000, max_retries: 3 }] });
    assert.deepEqual(cluster.upstream_connection_options, { tcp_keepalive: { keepalive_probes: 3, keepalive_time: 7200, keepalive_interval: 75 } });
    assert.deepEqual(cluster.typed_extension_protocol_options, {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        common_http_protocol_options: { max_connection_duration: "3600s", max_requests_per_connection: 1, idle_timeout: "90s" },
        explicit_http_config: { http2_protocol_options: {} },
      },
    });
  });

  test("useClientProtocol keeps the downstream protocol", () => {
    const { cluster } = applyClusterPolicy(input({ connectionPool: { http: { useClientProtocol: true } } }));
    const options = (cluster.typed_extension_protocol_options as Record<string, EnvoyJson>)["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
    assert.deepEqual(options?.use_downstream_protocol_config, { http_protocol_options: {}, http2_protocol_options: {} });
  });

  test("a bad duration is reported against its field and ignored", () => {
    const { cluster, diagnostics } = applyClusterPolicy(input({ connectionPool: { tcp: { connectTimeout: "soon" } } }));
    assert.equal(cluster.connect_timeout, "10s");
    assert.equal(diagnostics[0]?.field, "spec.trafficPolicy.connectionPool.tcp.connectTimeout");
    assert.equal(diagnostics[0]?.kind, "DestinationRule");
    assert.equal(diagnostics[0]?.name, "webapp");
  });
});

describe("outlier detection", () => {
  test("Istio's mapping, success-rate ejection off", () => {
    const { cluster } = applyClusterPolicy(
      input({ outlierDetection: { consecutive5xxErrors: 5, consecutiveGatewayErrors: 0, interval: "10s", baseEjectionTime: "30s", maxEjectionPercent: 50, minHealthPercent: 20 } }),
    );
    assert.deepEqual(cluster.outlier_detection, {
      enforcing_success_rate: 0,
      consecutive_gateway_failure: 0,
      enforcing_consecutive_gateway_failure: 0,
      consecutive_5xx: 5,
      enforcing_consecutive_5xx: 100,
      interval: "10s",
      base_ejection_time: "30s",
      max_ejection_percent: 50,
    });
    assert.deepEqual(cluster.common_lb_config, { healthy_panic_threshold: { value: 20 } });
  });

  test("deprecated consecutiveErrors counts gateway errors only", () => {
    const { cluster } = applyClusterPolicy(input({ outlierDetection: { consecutiveErrors: 7 } }));
    assert.deepEqual(cluster.outlier_detection, {
      enforcing_success_rate: 0,
      consecutive_gateway_failure: 7,
      enforcing_consecutive_gateway_failure: 100,
      enforcing_consecutive_5xx: 0,
    });
  });
});

describe("port-level settings and subsets", () => {
  test("a port-level entry replaces the rule's settings as a whole", () => {
    const policy: TrafficPolicy = {
      loadBalancer: { simple: "RANDOM" },
      connectionPool: { tcp: { maxConnections: 5 } },
      portLevelSettings: [{ port: { number: 80 }, loadBalancer: { simple: "LEAST_REQUEST" } }],
    };
    assert.deepEqual(policyForPort(policy, 80), { loadBalancer: { simple: "LEAST_REQUEST" } });
    assert.deepEqual(policyForPort(policy, 8080), { loadBalancer: { simple: "RANDOM" }, connectionPool: { tcp: { maxConnections: 5 } } });
    const { cluster } = applyClusterPolicy(input(policy));
    assert.equal(cluster.lb_policy, "LEAST_REQUEST");
    assert.equal((cluster.circuit_breakers as { thresholds: EnvoyJson[] }).thresholds[0]?.max_connections, 4294967295);
  });

  test("a subset's fields replace the rule's, the others are inherited", () => {
    const rule: DestinationRule = {
      apiVersion: "networking.istio.io/v1",
      kind: "DestinationRule",
      metadata: { name: "webapp", namespace: "istioinaction" },
      spec: {
        host: "webapp",
        trafficPolicy: { loadBalancer: { simple: "RANDOM" }, outlierDetection: { consecutive5xxErrors: 1 } },
        subsets: [{ name: "v2", labels: { version: "v2" }, trafficPolicy: { loadBalancer: { simple: "ROUND_ROBIN" } } }],
      },
    };
    assert.deepEqual(effectivePolicy(rule, "v2", 80), { loadBalancer: { simple: "ROUND_ROBIN" }, outlierDetection: { consecutive5xxErrors: 1 } });
    assert.deepEqual(effectivePolicy(rule, undefined, 80), { loadBalancer: { simple: "RANDOM" }, outlierDetection: { consecutive5xxErrors: 1 } });
  });
});

describe("TLS origination", () => {
  let pki: CertificateChainSet;
  before(async () => {
    pki = await createCertificateChainSet({ name: "upstream", serverHosts: ["webapp.istioinaction.svc.cluster.local"] });
  });
  const b64 = (text: string) => Buffer.from(text).toString("base64");

  test("SIMPLE with SNI and a CA file path", () => {
    const { cluster, secrets, diagnostics } = applyClusterPolicy(input({ tls: { mode: "SIMPLE", sni: "webapp.example.test", caCertificates: "/etc/certs/ca.pem", subjectAltNames: ["webapp.example.test"] } }));
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(secrets, []);
    assert.deepEqual(cluster.transport_socket, {
      name: "envoy.transport_sockets.tls",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        sni: "webapp.example.test",
        common_tls_context: {
          validation_context: {
            trusted_ca: { filename: "/etc/certs/ca.pem" },
            match_typed_subject_alt_names: [{ san_type: "DNS", matcher: { exact: "webapp.example.test" } }],
          },
          tls_params: { tls_minimum_protocol_version: "TLSv1_2", tls_maximum_protocol_version: "TLSv1_3" },
        },
      },
    });
    // An explicit sni: no auto_sni (istiod's rule).
    assert.equal(cluster.typed_extension_protocol_options, undefined);
  });

  test("SIMPLE without sni: auto_sni, and auto_san_validation when verifying without explicit SANs (istiod)", () => {
    const options = (tls: Parameters<typeof input>[0]["tls"]) =>
      (applyClusterPolicy(input({ tls })).cluster.typed_extension_protocol_options as EnvoyJson | undefined)?.["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] as EnvoyJson | undefined;
    assert.deepEqual(options({ mode: "SIMPLE", caCertificates: "/etc/certs/ca.pem" })?.upstream_http_protocol_options, { auto_sni: true, auto_san_validation: true });
    assert.deepEqual(options({ mode: "SIMPLE", caCertificates: "/etc/certs/ca.pem", subjectAltNames: ["a.example"] })?.upstream_http_protocol_options, { auto_sni: true });
    assert.deepEqual(options({ mode: "SIMPLE", insecureSkipVerify: true })?.upstream_http_protocol_options, { auto_sni: true });
    assert.deepEqual(options({ mode: "SIMPLE", caCertificates: "/etc/certs/ca.pem" })?.explicit_http_config, { http_protocol_options: {} });
  });

  test("SIMPLE without any CA warns that the upstream is not verified", () => {
    const { diagnostics } = applyClusterPolicy(input({ tls: { mode: "SIMPLE" } }));
    assert.match(diagnostics[0]?.message ?? "", /not verified/);
    assert.equal(applyClusterPolicy(input({ tls: { mode: "SIMPLE", insecureSkipVerify: true } })).diagnostics.length, 0);
  });

  test("MUTUAL with credentialName → SDS client certificate and CA", () => {
    const secret: Secret = {
      metadata: { name: "upstream-client", namespace: "istio-system" },
      data: { "tls.crt": b64(pki.client.fullChainPem), "tls.key": b64(pki.client.privateKeyPem), "ca.crt": b64(pki.root.certificatePem) },
    };
    const { cluster, secrets, diagnostics } = applyClusterPolicy(input({ tls: { mode: "MUTUAL", credentialName: "upstream-client", sni: "webapp" } }, [secret]));
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(secrets?.map((s) => s.name), ["kubernetes://upstream-client", "kubernetes://upstream-client-cacert"]);
    const typed = (cluster.transport_socket as { typed_config: EnvoyJson }).typed_config;
    assert.deepEqual(typed.common_tls_context, {
      tls_certificate_sds_secret_configs: [{ name: "kubernetes://upstream-client", sds_config: { ads: {}, resource_api_version: "V3" } }],
      validation_context_sds_secret_config: { name: "kubernetes://upstream-client-cacert", sds_config: { ads: {}, resource_api_version: "V3" } },
      tls_params: { tls_minimum_protocol_version: "TLSv1_2", tls_maximum_protocol_version: "TLSv1_3" },
    });
  });

  test("MUTUAL with a missing credential: diagnostic on the DestinationRule, no endpoints", () => {
    const { cluster, secrets, diagnostics } = applyClusterPolicy(input({ tls: { mode: "MUTUAL", credentialName: "nope" } }));
    assert.deepEqual(secrets, []);
    assert.equal(diagnostics[0]?.field, "spec.trafficPolicy.tls.credentialName");
    assert.equal(cluster.type, "STATIC");
    assert.deepEqual(cluster.load_assignment, { cluster_name: ref.name, endpoints: [] });
  });

  test("DISABLE removes TLS; ISTIO_MUTUAL is reported", () => {
    const disabled = applyClusterPolicy({ ...input({ tls: { mode: "DISABLE" } }), cluster: { ...baseCluster(), transport_socket: { name: "x" } } });
    assert.equal(disabled.cluster.transport_socket, undefined);
    const mesh = applyClusterPolicy(input({ tls: { mode: "ISTIO_MUTUAL" } }));
    assert.equal(mesh.diagnostics[0]?.severity, "error");
    assert.equal(mesh.cluster.transport_socket, undefined);
  });
});
