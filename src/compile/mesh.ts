/**
 * The mesh-wide settings istiod applies to every gateway it configures — what Istio keeps in its
 * MeshConfig (pkg/config/mesh/mesh.go `DefaultMeshConfig`), in pilot feature flags
 * (pilot/pkg/features) or as constants in the config generator (pilot/pkg/networking/core). One
 * object, so the operator can override any of them (CompileOptions.mesh) and docs/compatibility.md
 * can list them side by side with Istio's.
 */
import type { EnvoyJson } from "../envoy/resources.js";
import { fileAccessLog, istioAccessLogFormat, stdoutAccessLog } from "../envoy/listener.js";
import type { HttpConnectionManagerSettings } from "../envoy/listener.js";

export type ForwardClientCertDetails = "SANITIZE" | "FORWARD_ONLY" | "APPEND_FORWARD" | "SANITIZE_SET" | "ALWAYS_FORWARD_ONLY";

export interface MeshConfig {
  /**
   * MeshConfig.accessLogFile: where Envoy writes access logs; "" = none (Istio's default). The
   * demo/seed installs set `/dev/stdout`.
   */
  accessLogFile: string;
  /** MeshConfig.accessLogFormat (TEXT encoding); Istio's default format when unset. */
  accessLogFormat: string;
  /** MeshConfig.connectTimeout for every upstream cluster, in milliseconds (10 s). */
  connectTimeoutMs: number;
  /** Load balancer of clusters whose DestinationRule sets none (istiod: `defaultLBAlgorithm`). */
  defaultLbPolicy: "LEAST_REQUEST" | "ROUND_ROBIN" | "RANDOM";
  /**
   * `common_lb_config.healthy_panic_threshold` on every cluster, in percent: istiod sets 0 (panic
   * mode off) because it sends unhealthy endpoints by default (PILOT_AUTO_SEND_UNHEALTHY_ENDPOINTS).
   * `outlierDetection.minHealthPercent` overrides it per DestinationRule.
   */
  healthyPanicThresholdPercent: number;
  /** HCM `stream_idle_timeout` in milliseconds; 0 = none (istiod: `durationpb.New(0)`). */
  streamIdleTimeoutMs: number;
  /** HCM `proxy_100_continue` (istiod: ENABLE_100_CONTINUE_HEADERS, default true). */
  proxy100Continue: boolean;
  /** Route configuration `max_direct_response_body_size_bytes` (istiod: 1 MiB, Envoy's is 4 KiB). */
  maxDirectResponseBodySizeBytes: number;
  /**
   * `transport_socket_connect_timeout` of every gateway filter chain, in milliseconds; 0 = none
   * (istiod: PILOT_GATEWAY_TRANSPORT_SOCKET_CONNECT_TIMEOUT, 15 s).
   */
  gatewayTransportSocketConnectTimeoutMs: number;
  /** Gateway HCM `forward_client_cert_details` (ProxyConfig.gatewayTopology; istiod: SANITIZE_SET). */
  forwardClientCertDetails: ForwardClientCertDetails;
  /** Virtual hosts' `include_request_attempt_count` (ProxyHeaders; istiod: true on gateways). */
  includeRequestAttemptCount: boolean;
  /**
   * Routes' `max_grpc_timeout` = the route timeout, as istiod sets it: a gRPC client's
   * `grpc-timeout` is honoured, capped by the route timeout. Envoy logs a deprecation warning per
   * route for this field; false leaves it out (the header is then ignored).
   */
  honorGrpcTimeoutHeader: boolean;
  /** Mirror policies' `disable_shadow_host_suffix_append` (istiod: DISABLE_SHADOW_HOST_SUFFIX, true). */
  disableShadowHostSuffixAppend: boolean;
  /** Istio ≤ 1.23 also retried 503 by default (meshConfig.defaultHttpRetryPolicy); 1.24+ does not. */
  defaultRetryOn503: boolean;
}

export const meshDefaults: Readonly<MeshConfig> = Object.freeze({
  accessLogFile: "",
  accessLogFormat: istioAccessLogFormat,
  connectTimeoutMs: 10_000,
  defaultLbPolicy: "LEAST_REQUEST",
  healthyPanicThresholdPercent: 0,
  streamIdleTimeoutMs: 0,
  proxy100Continue: true,
  maxDirectResponseBodySizeBytes: 1024 * 1024,
  gatewayTransportSocketConnectTimeoutMs: 15_000,
  forwardClientCertDetails: "SANITIZE_SET",
  includeRequestAttemptCount: true,
  honorGrpcTimeoutHeader: true,
  disableShadowHostSuffixAppend: true,
  defaultRetryOn503: false,
});

/** The effective mesh settings: the defaults, then the options' overrides. */
export function meshConfig(options: { defaultRetryOn503?: boolean; mesh?: Partial<MeshConfig> } | undefined): MeshConfig {
  const merged: MeshConfig = { ...meshDefaults, ...(options?.mesh ?? {}) };
  if (options?.mesh?.defaultRetryOn503 === undefined && options?.defaultRetryOn503 !== undefined) merged.defaultRetryOn503 = options.defaultRetryOn503;
  return merged;
}

/**
 * One access logger for the mesh's file. `/dev/stdout` becomes Envoy's stdout logger (same
 * output; istiod opens the path as a file, which fails with ENXIO when stdout is a socket, as
 * under Node's child_process).
 */
function accessLogger(mesh: MeshConfig): EnvoyJson {
  return mesh.accessLogFile === "/dev/stdout" ? stdoutAccessLog(mesh.accessLogFormat) : fileAccessLog(mesh.accessLogFile, mesh.accessLogFormat);
}

/** Access loggers for HCMs and TCP proxies: none unless the mesh names a file. */
export function accessLogs(mesh: MeshConfig): EnvoyJson[] {
  return mesh.accessLogFile ? [accessLogger(mesh)] : [];
}

/**
 * The listener-level access log istiod adds when access logging is on: only connections that
 * matched no filter chain (response flag NR), e.g. TLS with an unknown SNI.
 */
export function listenerAccessLogs(mesh: MeshConfig): EnvoyJson[] {
  if (!mesh.accessLogFile) return [];
  return [{ ...accessLogger(mesh), filter: { response_flag_filter: { flags: ["NR"] } } }];
}

export function hcmSettings(mesh: MeshConfig): HttpConnectionManagerSettings {
  return {
    accessLog: accessLogs(mesh),
    streamIdleTimeoutMs: mesh.streamIdleTimeoutMs,
    proxy100Continue: mesh.proxy100Continue,
    forwardClientCertDetails: mesh.forwardClientCertDetails,
  };
}
