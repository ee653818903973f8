/**
 * DestinationRule `trafficPolicy` → fields of an Envoy upstream cluster, as Istio translates them
 * (pilot/pkg/networking/core/cluster_traffic_policy.go): load balancer, connection pool (circuit
 * breakers, timeouts, keepalive, HTTP protocol options), outlier detection and TLS origination.
 *
 * Port-level settings follow Istio: a `portLevelSettings` entry for the cluster's port replaces
 * the rule's loadBalancer, connectionPool, outlierDetection and tls as a whole (a field the entry
 * leaves out falls back to Envoy's default, not to the rule's value).
 */
import type {
  ClientTLSSettings,
  ConnectionPoolSettings,
  ConsistentHashLB,
  DestinationRule,
  LoadBalancerSettings,
  OutlierDetection,
  PortTrafficPolicy,
  TrafficPolicy,
} from "../api/index.js";
import { parseDuration } from "../api/index.js";
import type { Diagnostic } from "./output.js";
import type { EnvoyJson, EnvoyResource, JsonValue } from "../envoy/resources.js";
import type { ClusterPolicyInput, ClusterPolicyResult } from "./filter-chains/types.js";
import { namespaceOf } from "./binding.js";
import { resolveCredential } from "./tls/credentials.js";
import { sdsSecretConfig } from "./tls/sds.js";

const unlimited = 4294967295;
const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const httpProtocolOptionsType = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const upstreamTlsContextType = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
/** Istio's default ring size for consistent hashing. */
const defaultMinimumRingSize = 1024;

/** The policy fields that apply to one cluster once port-level settings are resolved. */
export interface PortPolicy {
  loadBalancer?: LoadBalancerSettings;
  connectionPool?: ConnectionPoolSettings;
  outlierDetection?: OutlierDetection;
  tls?: ClientTLSSettings;
}

/** The rule's policy with the `portLevelSettings` entry for `port` applied (Istio's rule). */
export function policyForPort(policy: TrafficPolicy | undefined, port: number): PortPolicy {
  if (!policy) return {};
  const portLevel: PortTrafficPolicy | undefined = (policy.portLevelSettings ?? []).find((entry) => entry.port?.number === port);
  const source = portLevel ?? policy;
  const result: PortPolicy = {};
  if (source.loadBalancer) result.loadBalancer = source.loadBalancer;
  if (source.connectionPool) result.connectionPool = source.connectionPool;
  if (source.outlierDetection) result.outlierDetection = source.outlierDetection;
  if (source.tls) result.tls = source.tls;
  return result;
}

/**
 * The effective policy of a subset: the rule's policy (port-level applied), with each top-level
 * field the subset sets replacing the rule's, then the subset's own port-level entry.
 */
export function effectivePolicy(rule: DestinationRule | undefined, subsetName: string | undefined, port: number): PortPolicy {
  const base = policyForPort(rule?.spec.trafficPolicy, port);
  const subset = subsetName ? (rule?.spec.subsets ?? []).find((candidate) => candidate.name === subsetName) : undefined;
  if (!subset?.trafficPolicy) return base;
  const subsetPolicy = subset.trafficPolicy;
  const merged: PortPolicy = { ...base };
  if (subsetPolicy.loadBalancer) merged.loadBalancer = subsetPolicy.loadBalancer;
  if (subsetPolicy.connectionPool) merged.connectionPool = subsetPolicy.connectionPool;
  if (subsetPolicy.outlierDetection) merged.outlierDetection = subsetPolicy.outlierDetection;
  if (subsetPolicy.tls) merged.tls = subsetPolicy.tls;
  const portLevel = (subsetPolicy.portLevelSettings ?? []).find((entry) => entry.port?.number === port);
  return portLevel ? policyForPort({ portLevelSettings: [portLevel] }, port) : merged;
}

/**
 * `portLevelSettings` entries that can never apply, which Istio accepts (its webhook checks
 * neither the range nor repeats): port 0 or above 65535 match no port, and of repeated ports
 * istiod (util.go `GetPortLevelTrafficPolicy`, first match wins) uses the first — so does
 * policyForPort. Nothing of them reaches Envoy; the warnings say why they have no effect.
 */
export function portLevelSettingsDiagnostics(rule: DestinationRule): Diagnostic[] {
  const out: Diagnostic[] = [];
  const check = (policy: TrafficPolicy | undefined, field: string) => {
    const seen = new Map<number, number>();
    (policy?.portLevelSettings ?? []).forEach((entry, index) => {
      const number = entry.port?.number;
      const where = `${field}.portLevelSettings[${index}].port.number`;
      const report = (message: string) =>
        out.push({ severity: "warning", kind: "DestinationRule", namespace: namespaceOf(rule), name: rule.metadata.name, field: where, message });
      if (number === undefined) return;
      if (!Number.isInteger(number) || number < 1 || number > 65535) {
        report(`port ${number} is not a port (1..65535); these settings never apply: use the service port's number`);
      } else if (seen.has(number)) {
        report(`port ${number} is already set by portLevelSettings[${seen.get(number)}]; only the first applies, like istiod: merge the two entries`);
      } else {
        seen.set(number, index);
      }
    });
  };
  check(rule.spec.trafficPolicy, "spec.trafficPolicy");
  (rule.spec.subsets ?? []).forEach((subset, index) => check(subset.trafficPolicy, `spec.subsets[${index}].trafficPolicy`));
  return out;
}

interface Reporter {
  diagnostics: Diagnostic[];
  report(severity: Diagnostic["severity"], field: string, message: string): void;
}

function reporter(input: ClusterPolicyInput): Reporter {
  const diagnostics: Diagnostic[] = [];
  const origin = input.destinationRule;
  return {
    diagnostics,
    report(severity, field, message) {
      diagnostics.push({
        severity,
        kind: "DestinationRule",
        namespace: origin?.namespace ?? input.proxy.namespace,
        name: origin?.name ?? input.ref.host,
        field: origin ? `${origin.field}.${field}` : field,
        message: `${message} (cluster ${input.ref.name})`,
      });
    },
  };
}

/** Envoy's JSON Duration (seconds with millisecond precision) from an Istio duration string. */
function durationField(text: string | undefined, field: string, out: Reporter): string | undefined {
  if (text === undefined) return undefined;
  const parsed = parseDuration(text);
  if ("error" in parsed) {
    out.report("error", field, `${parsed.error}; the setting is ignored`);
    return undefined;
  }
  return `${Math.round(parsed.ms) / 1000}s`;
}

function durationSeconds(text: string | undefined, field: string, out: Reporter): number | undefined {
  if (text === undefined) return undefined;
  const parsed = parseDuration(text);
  if ("error" in parsed) {
    out.report("error", field, `${parsed.error}; the setting is ignored`);
    return undefined;
  }
  return Math.floor(parsed.ms / 1000);
}

function asObject(value: JsonValue | undefined): EnvoyJson {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? value : {};
}

/** Route hash policy for a consistent-hash load balancer; routes to the cluster carry it. */
export function routeHashPolicy(consistentHash: ConsistentHashLB | undefined): EnvoyJson[] {
  if (!consistentHash) return [];
  if (consistentHash.httpHeaderName) return [{ header: { header_name: consistentHash.httpHeaderName } }];
  if (consistentHash.httpCookie) {
    const cookie: EnvoyJson = { name: consistentHash.httpCookie.name };
    if (consistentHash.httpCookie.path) cookie.path = consistentHash.httpCookie.path;
    if (consistentHash.httpCookie.ttl) {
      const parsed = parseDuration(consistentHash.httpCookie.ttl);
      if (!("error" in parsed)) cookie.ttl = `${Math.round(parsed.ms) / 1000}s`;
    }
    return [{ cookie }];
  }
  if (consistentHash.useSourceIp) return [{ connection_properties: { source_ip: true } }];
  if (consistentHash.httpQueryParameterName) return [{ query_parameter: { name: consistentHash.httpQueryParameterName } }];
  return [];
}

/** Whether routes to a cluster with this policy hash (Istio then omits `previous_hosts`). */
export function usesConsistentHash(policy: PortPolicy): boolean {
  return policy.loadBalancer?.consistentHash !== undefined;
}

function applyLoadBalancer(cluster: EnvoyJson, lb: LoadBalancerSettings, out: Reporter): void {
  if (lb.consistentHash) {
    const hash = lb.consistentHash;
    if (hash.maglev) {
      cluster.lb_policy = "MAGLEV";
      if (hash.maglev.tableSize !== undefined) cluster.maglev_lb_config = { table_size: hash.maglev.tableSize };
    } else {
      cluster.lb_policy = "RING_HASH";
      cluster.ring_hash_lb_config = {
        minimum_ring_size: hash.ringHash?.minimumRingSize ?? hash.minimumRingSize ?? defaultMinimumRingSize,
      };
    }
    return;
  }
  switch (lb.simple) {
    case undefined:
    case "UNSPECIFIED":
      return;
    case "ROUND_ROBIN":
      cluster.lb_policy = "ROUND_ROBIN";
      return;
    case "LEAST_REQUEST":
    case "LEAST_CONN":
      cluster.lb_policy = "LEAST_REQUEST";
      return;
    case "RANDOM":
      cluster.lb_policy = "RANDOM";
      return;
    case "PASSTHROUGH":
      // Istio makes the cluster ORIGINAL_DST; on an ingress gateway the original destination is
      // the gateway itself, so that would loop. Keep the endpoints and say so.
      out.report("warning", "loadBalancer.simple", "PASSTHROUGH load balancing is not used on gateways; the cluster keeps its endpoints with its default load balancer");
      return;
  }
}

function applyConnectionPool(cluster: EnvoyJson, pool: ConnectionPoolSettings, out: Reporter): void {
  const threshold: EnvoyJson = {
    max_connections: unlimited,
    max_pending_requests: unlimited,
    max_requests: unlimited,
    max_retries: unlimited,
  };
  // Keep what the cluster already had (the compiler's defaults), then override per field.
  const breakers = asObject(cluster.circuit_breakers);
  const thresholds = Array.isArray(breakers.thresholds) ? breakers.thresholds : [];
  Object.assign(threshold, asObject(thresholds[0]));

  const common: EnvoyJson = {};
  if (pool.tcp) {
    const tcp = pool.tcp;
    if (tcp.maxConnections !== undefined && tcp.maxConnections > 0) threshold.max_connections = tcp.maxConnections;
    const connectTimeout = durationField(tcp.connectTimeout, "connectionPool.tcp.connectTimeout", out);
    if (connectTimeout) cluster.connect_timeout = connectTimeout;
    if (tcp.tcpKeepalive) {
      const keepalive: EnvoyJson = {};
      if (tcp.tcpKeepalive.probes !== undefined) keepalive.keepalive_probes = tcp.tcpKeepalive.probes;
      const time = durationSeconds(tcp.tcpKeepalive.time, "connectionPool.tcp.tcpKeepalive.time", out);
      if (time !== undefined) keepalive.keepalive_time = time;
      const interval = durationSeconds(tcp.tcpKeepalive.interval, "connectionPool.tcp.tcpKeepalive.interval", out);
      if (interval !== undefined) keepalive.keepalive_interval = interval;
      cluster.upstream_connection_options = { tcp_keepalive: keepalive };
    }
    const maxDuration = durationField(tcp.maxConnectionDuration, "connectionPool.tcp.maxConnectionDuration", out);
    if (maxDuration) common.max_connection_duration = maxDuration;
  }

  let explicitProtocol: EnvoyJson | undefined;
  let useDownstream = false;
  if (pool.http) {
    const http = pool.http;
    if (http.http1MaxPendingRequests !== undefined && http.http1MaxPendingRequests > 0) threshold.max_pending_requests = http.http1MaxPendingRequests;
    if (http.http2MaxRequests !== undefined && http.http2MaxRequests > 0) threshold.max_requests = http.http2MaxRequests;
    if (http.maxRetries !== undefined && http.maxRetries > 0) threshold.max_retries = http.maxRetries;
    if (http.maxRequestsPerConnection !== undefined && http.maxRequestsPerConnection > 0) {
      common.max_requests_per_connection = http.maxRequestsPerConnection;
    }
    const idle = durationField(http.idleTimeout, "connectionPool.http.idleTimeout", out);
    if (idle) common.idle_timeout = idle;
    const http2Options: EnvoyJson = {};
    if (http.maxConcurrentStreams !== undefined && http.maxConcurrentStreams > 0) http2Options.max_concurrent_streams = http.maxConcurrentStreams;
    if (http.useClientProtocol) {
      useDownstream = true;
    } else if (http.h2UpgradePolicy === "UPGRADE") {
      explicitProtocol = { http2_protocol_options: http2Options };
    }
  }
  cluster.circuit_breakers = { thresholds: [threshold] };

  if (Object.keys(common).length > 0 || explicitProtocol || useDownstream) {
    const extensionOptions = asObject(cluster.typed_extension_protocol_options);
    const options: EnvoyJson = { "@type": httpProtocolOptionsType, ...asObject(extensionOptions[httpProtocolOptionsKey]) };
    if (Object.keys(common).length > 0) options.common_http_protocol_options = { ...asObject(options.common_http_protocol_options), ...common };
    if (useDownstream) {
      delete options.explicit_http_config;
      options.use_downstream_protocol_config = { http_protocol_options: {}, http2_protocol_options: {} };
    } else if (explicitProtocol) {
      delete options.use_downstream_protocol_config;
      options.explicit_http_config = explicitProtocol;
    } else if (!options.explicit_http_config && !options.use_downstream_protocol_config) {
      // HttpProtocolOptions requires one protocol selection; HTTP/1.1 is Envoy's default.
      options.explicit_http_config = { http_protocol_options: {} };
    }
    cluster.typed_extension_protocol_options = { ...extensionOptions, [httpProtocolOptionsKey]: options };
  }
}

function applyOutlierDetection(cluster: EnvoyJson, outlier: OutlierDetection, out: Reporter): void {
  // Istio turns success-rate ejection off: only the consecutive-error detectors it exposes run.
  const detection: EnvoyJson = { enforcing_success_rate: 0 };
  if (outlier.consecutiveErrors !== undefined && outlier.consecutiveErrors > 0) {
    // Deprecated field: Istio maps it to gateway errors (502/503/504) only.
    detection.consecutive_gateway_failure = outlier.consecutiveErrors;
    detection.enforcing_consecutive_gateway_failure = 100;
    detection.enforcing_consecutive_5xx = 0;
  }
  if (outlier.consecutiveGatewayErrors !== undefined && outlier.consecutiveGatewayErrors !== null) {
    detection.consecutive_gateway_failure = outlier.consecutiveGatewayErrors;
    detection.enforcing_consecutive_gateway_failure = outlier.consecutiveGatewayErrors > 0 ? 100 : 0;
  }
  if (outlier.consecutive5xxErrors !== undefined && outlier.consecutive5xxErrors !== null) {
    detection.consecutive_5xx = outlier.consecutive5xxErrors;
    detection.enforcing_consecutive_5xx = outlier.consecutive5xxErrors > 0 ? 100 : 0;
  }
  if (outlier.splitExternalLocalOriginErrors) {
    detection.split_external_local_origin_errors = true;
    if (outlier.consecutiveLocalOriginFailures !== undefined && outlier.consecutiveLocalOriginFailures !== null) {
      detection.consecutive_local_origin_failure = outlier.consecutiveLocalOriginFailures;
      detection.enforcing_consecutive_local_origin_failure = 100;
    }
  }
  const interval = durationField(outlier.interval, "outlierDetection.interval", out);
  if (interval) detection.interval = interval;
  const baseEjection = durationField(outlier.baseEjectionTime, "outlierDetection.baseEjectionTime", out);
  if (baseEjection) detection.base_ejection_time = baseEjection;
  if (outlier.maxEjectionPercent !== undefined) detection.max_ejection_percent = Math.min(100, Math.max(0, outlier.maxEjectionPercent));
  cluster.outlier_detection = detection;
  if (outlier.minHealthPercent !== undefined && outlier.minHealthPercent >= 0) {
    cluster.common_lb_config = { ...asObject(cluster.common_lb_config), healthy_panic_threshold: { value: outlier.minHealthPercent } };
  }
}

function applyTls(input: ClusterPolicyInput, cluster: EnvoyJson, tls: ClientTLSSettings, out: Reporter): EnvoyResource[] {
  const mode = tls.mode ?? "DISABLE";
  if (mode === "DISABLE") {
    delete cluster.transport_socket;
    return [];
  }
  if (mode === "ISTIO_MUTUAL") {
    out.report("error", "tls.mode", "ISTIO_MUTUAL needs mesh certificates, which pilotfish does not issue yet; the cluster is left without TLS");
    return [];
  }
  const secrets: EnvoyResource[] = [];
  const common: EnvoyJson = {};
  const verify = tls.insecureSkipVerify !== true;
  let caSecretName: string | undefined;
  let certificateSecretName: string | undefined;

  if (tls.credentialName) {
    const request = {
      snapshot: input.snapshot,
      credentialName: tls.credentialName,
      workloadNamespace: input.proxy.namespace,
      resourceNamespace: input.destinationRule?.namespace ?? input.proxy.namespace,
      subject: {
        kind: "DestinationRule",
        namespace: input.destinationRule?.namespace ?? input.proxy.namespace,
        name: input.destinationRule?.name ?? input.ref.host,
        field: `${input.destinationRule?.field ?? "spec.trafficPolicy"}.tls.credentialName`,
      },
    };
    const resolved = resolveCredential({ ...request, needCertificate: mode === "MUTUAL", needCa: false });
    if (!resolved.ok) {
      out.diagnostics.push(...resolved.diagnostics);
      // Without the client certificate the upstream would refuse every handshake anyway; a
      // cluster with no endpoints answers 503 at once instead of timing out.
      cluster.load_assignment = { cluster_name: input.ref.name, endpoints: [] };
      delete cluster.eds_cluster_config;
      cluster.type = "STATIC";
      return [];
    }
    secrets.push(...resolved.credential.secrets);
    certificateSecretName = resolved.credential.certificateSecretName;
    if (verify) {
      // The CA is optional with a credential: Istio verifies when it finds one.
      const ca = resolveCredential({ ...request, needCertificate: false, needCa: true });
      if (ca.ok) {
        secrets.push(...ca.credential.secrets);
        caSecretName = ca.credential.caSecretName;
      }
    }
  } else if (mode === "MUTUAL") {
    if (!tls.clientCertificate || !tls.privateKey) {
      out.report("error", "tls", "MUTUAL needs credentialName, or clientCertificate and privateKey; the cluster is left without TLS");
      return [];
    }
    common.tls_certificates = [{ certificate_chain: { filename: tls.clientCertificate }, private_key: { filename: tls.privateKey } }];
  }
  if (certificateSecretName) common.tls_certificate_sds_secret_configs = [sdsSecretConfig(certificateSecretName)];

  if (verify) {
    const sanMatchers: EnvoyJson[] = (tls.subjectAltNames ?? []).map((san) => ({ san_type: "DNS", matcher: { exact: san } }));
    if (caSecretName) {
      if (sanMatchers.length > 0) {
        common.combined_validation_context = {
          default_validation_context: { match_typed_subject_alt_names: sanMatchers },
          validation_context_sds_secret_config: sdsSecretConfig(caSecretName),
        };
      } else {
        common.validation_context_sds_secret_config = sdsSecretConfig(caSecretName);
      }
    } else if (tls.caCertificates) {
      const context: EnvoyJson = { trusted_ca: { filename: tls.caCertificates } };
      if (sanMatchers.length > 0) context.match_typed_subject_alt_names = sanMatchers;
      common.validation_context = context;
    } else {
      out.report(
        "warning",
        "tls",
        "no CA to verify the upstream certificate (set caCertificates, or ca.crt in the credential, or insecureSkipVerify: true to say so); the upstream certificate is not verified",
      );
    }
  }

  // istiod (cluster_tls.go defaultUpstreamCommonTLSContext): TLS 1.2 to 1.3 upstream.
  common.tls_params = { tls_minimum_protocol_version: "TLSv1_2", tls_maximum_protocol_version: "TLSv1_3" };
  const context: EnvoyJson = { common_tls_context: common };
  if (tls.sni) context.sni = tls.sni;
  cluster.transport_socket = { name: "envoy.transport_sockets.tls", typed_config: { "@type": upstreamTlsContextType, ...context } };
  // istiod (setAutoSniAndAutoSanValidation): without an explicit sni, the SNI is the request's
  // Host; without explicit SANs (and when verifying), the certificate must match that Host.
  const verifying = verify && (caSecretName !== undefined || tls.caCertificates !== undefined);
  const autoSni = !tls.sni;
  const autoSan = autoSni && verifying && (tls.subjectAltNames ?? []).length === 0;
  if (autoSni || autoSan) {
    const extensionOptions = asObject(cluster.typed_extension_protocol_options);
    const options: EnvoyJson = { "@type": httpProtocolOptionsType, ...asObject(extensionOptions[httpProtocolOptionsKey]) };
    const upstream: EnvoyJson = { ...asObject(options.upstream_http_protocol_options) };
    if (autoSni) upstream.auto_sni = true;
    if (autoSan) upstream.auto_san_validation = true;
    options.upstream_http_protocol_options = upstream;
    if (!options.explicit_http_config && !options.use_downstream_protocol_config) options.explicit_http_config = { http_protocol_options: {} };
    cluster.typed_extension_protocol_options = { ...extensionOptions, [httpProtocolOptionsKey]: options };
  }
  return secrets;
}

/** The ClusterPolicyApplier of filter-chains/types.ts. */
export function applyClusterPolicy(input: ClusterPolicyInput): ClusterPolicyResult {
  const out = reporter(input);
  const cluster: EnvoyJson = structuredClone(input.cluster);
  const policy = policyForPort(input.policy, input.ref.port);
  if (policy.loadBalancer) applyLoadBalancer(cluster, policy.loadBalancer, out);
  if (policy.connectionPool) applyConnectionPool(cluster, policy.connectionPool, out);
  if (policy.outlierDetection) applyOutlierDetection(cluster, policy.outlierDetection, out);
  const secrets = policy.tls ? applyTls(input, cluster, policy.tls, out) : [];
  return { cluster, secrets, diagnostics: out.diagnostics };
}
