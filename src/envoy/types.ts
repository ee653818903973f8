/** Envoy v3 type URLs, named after the proto messages they identify. */
const prefix = "type.googleapis.com/";

export const typeUrl = {
  listener: `${prefix}envoy.config.listener.v3.Listener`,
  routeConfiguration: `${prefix}envoy.config.route.v3.RouteConfiguration`,
  cluster: `${prefix}envoy.config.cluster.v3.Cluster`,
  clusterLoadAssignment: `${prefix}envoy.config.endpoint.v3.ClusterLoadAssignment`,
  secret: `${prefix}envoy.extensions.transport_sockets.tls.v3.Secret`,
  httpConnectionManager: `${prefix}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
  tcpProxy: `${prefix}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`,
  router: `${prefix}envoy.extensions.filters.http.router.v3.Router`,
  fault: `${prefix}envoy.extensions.filters.http.fault.v3.HTTPFault`,
  cors: `${prefix}envoy.extensions.filters.http.cors.v3.Cors`,
  corsPolicy: `${prefix}envoy.extensions.filters.http.cors.v3.CorsPolicy`,
  stdoutAccessLog: `${prefix}envoy.extensions.access_loggers.stream.v3.StdoutAccessLog`,
  fileAccessLog: `${prefix}envoy.extensions.access_loggers.file.v3.FileAccessLog`,
  tlsInspector: `${prefix}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector`,
  previousHostsPredicate: `${prefix}envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate`,
  downstreamTlsContext: `${prefix}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`,
  upstreamTlsContext: `${prefix}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
  bootstrap: `${prefix}envoy.config.bootstrap.v3.Bootstrap`,
} as const;

/** Filter names as Envoy registers them. */
export const filterName = {
  httpConnectionManager: "envoy.filters.network.http_connection_manager",
  tcpProxy: "envoy.filters.network.tcp_proxy",
  router: "envoy.filters.http.router",
  fault: "envoy.filters.http.fault",
  cors: "envoy.filters.http.cors",
  tlsInspector: "envoy.filters.listener.tls_inspector",
  stdoutAccessLog: "envoy.access_loggers.stdout",
  fileAccessLog: "envoy.access_loggers.file",
} as const;

/** A delivery-neutral config source: publish/file layout rewrites it for files (see layout.ts). */
export function adsConfigSource(): { ads: Record<string, never>; resource_api_version: "V3" } {
  return { ads: {}, resource_api_version: "V3" };
}

/** Envoy Duration in JSON: seconds with up to 3 decimals, e.g. 1500 ms → "1.5s". */
export function duration(ms: number): string {
  const seconds = Math.round(ms) / 1000;
  return `${seconds}s`;
}

/** A percentage as Envoy's FractionalPercent over a million (Istio's precision). */
export function fractionalPercent(percent: number): { numerator: number; denominator: "MILLION" } {
  const clamped = Math.min(100, Math.max(0, percent));
  return { numerator: Math.round(clamped * 10_000), denominator: "MILLION" };
}
