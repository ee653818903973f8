/**
 * Where the compiler handles each field of the API, and a warning for every field it does not
 * compile, so no field is ever ignored silently. Keys are schema paths (`[]` an array element,
 * `{}` a map value): every leaf field that is compiled is listed with the module that reads it; a
 * `notCompiled` key covers its whole subtree (reported once, where it is set). DestinationRule
 * paths under `subsets[].trafficPolicy` and `portLevelSettings[]` use the `spec.trafficPolicy`
 * key of the same field. test/unit/compile/field-support.test.ts checks that every leaf of the
 * generated JSON Schemas has an entry; a field set in a resource that has none is reported too.
 */
import type { Diagnostic } from "./output.js";

export type FieldSupport = { compiled: string } | { notCompiled: string };

type Kind = "Gateway" | "VirtualService" | "DestinationRule";

const ignoredOnGateways = "ignored on gateways, like istiod (only `port` and `gateways` select a gateway's L4 route)";

export const fieldSupport: Record<Kind, Record<string, FieldSupport>> = {
  Gateway: {
    "spec.selector{}": { compiled: "binding.ts (selectsProxy)" },
    "spec.servers[].bind": { notCompiled: "bind addresses are not compiled yet; the server listens on 0.0.0.0" },
    "spec.servers[].defaultEndpoint": { notCompiled: "used by sidecar proxies only; ignored on gateways, like istiod" },
    "spec.servers[].hosts[]": { compiled: "binding.ts, hosts.ts, listeners.ts" },
    "spec.servers[].name": { compiled: "filter-chains/https.ts (HCM stat prefix, like istiod)" },
    "spec.servers[].port.name": { compiled: "filter-chains/https.ts (route config name)" },
    "spec.servers[].port.number": { compiled: "listeners.ts (listener port via the Service)" },
    "spec.servers[].port.protocol": { compiled: "listeners.ts (serverKind)" },
    "spec.servers[].port.targetPort": { notCompiled: "not allowed on a Gateway (validation rejects it, like Istio)" },
    "spec.servers[].tls.caCertCredentialName": { notCompiled: "a separate CA credential is not compiled yet; put ca.crt in credentialName's Secret or use <name>-cacert" },
    "spec.servers[].tls.caCertificates": { compiled: "tls/downstream.ts (files)" },
    "spec.servers[].tls.caCrl": { notCompiled: "certificate revocation lists are not compiled yet" },
    "spec.servers[].tls.cipherSuites[]": { compiled: "tls/downstream.ts (checked against Envoy's list)" },
    "spec.servers[].tls.credentialName": { compiled: "tls/credentials.ts (SDS)" },
    "spec.servers[].tls.credentialNames": { notCompiled: "several credentials per server are not compiled yet; use credentialName" },
    "spec.servers[].tls.httpsRedirect": { compiled: "virtual-hosts.ts (require_tls)" },
    "spec.servers[].tls.insecureSkipVerify": { notCompiled: "skipping client certificate verification is not compiled yet" },
    "spec.servers[].tls.maxProtocolVersion": { compiled: "tls/downstream.ts" },
    "spec.servers[].tls.minProtocolVersion": { compiled: "tls/downstream.ts" },
    "spec.servers[].tls.mode": { compiled: "listeners.ts, tls/downstream.ts" },
    "spec.servers[].tls.privateKey": { compiled: "tls/downstream.ts (files)" },
    "spec.servers[].tls.serverCertificate": { compiled: "tls/downstream.ts (files)" },
    "spec.servers[].tls.subjectAltNames[]": { compiled: "tls/downstream.ts" },
    "spec.servers[].tls.tlsCertificates": { notCompiled: "several certificates per server are not compiled yet; use credentialName" },
    "spec.servers[].tls.verifyCertificateHash[]": { compiled: "tls/downstream.ts" },
    "spec.servers[].tls.verifyCertificateSpki[]": { compiled: "tls/downstream.ts" },
  },
  VirtualService: {
    "spec.exportTo[]": { compiled: "binding.ts (visibility to the proxy's namespace)" },
    "spec.gateways[]": { compiled: "binding.ts" },
    "spec.hosts[]": { compiled: "binding.ts" },
    "spec.http[].corsPolicy.allowCredentials": { compiled: "http-routes.ts (corsConfig)" },
    "spec.http[].corsPolicy.allowHeaders[]": { compiled: "http-routes.ts (corsConfig)" },
    "spec.http[].corsPolicy.allowMethods[]": { compiled: "http-routes.ts (corsConfig)" },
    "spec.http[].corsPolicy.allowOrigin[]": { compiled: "http-routes.ts (corsConfig)" },
    "spec.http[].corsPolicy.allowOrigins[]": { compiled: "http-routes.ts (corsConfig)" },
    "spec.http[].corsPolicy.allowOrigins[].exact": { compiled: "http-routes.ts (corsConfig)" },
    "spec.http[].corsPolicy.allowOrigins[].prefix": { compiled: "http-routes.ts (corsConfig)" },
    "spec.http[].corsPolicy.allowOrigins[].regex": { compiled: "http-routes.ts (corsConfig)" },
    "spec.http[].corsPolicy.exposeHeaders[]": { compiled: "http-routes.ts (corsConfig)" },
    "spec.http[].corsPolicy.maxAge": { compiled: "http-routes.ts (corsConfig)" },
    "spec.http[].corsPolicy.unmatchedPreflights": { compiled: "http-routes.ts (corsConfig)" },
    "spec.http[].delegate": { notCompiled: "delegate VirtualServices are not compiled yet; the rule answers 500" },
    "spec.http[].directResponse.body": { compiled: "http-routes.ts (direct_response)" },
    "spec.http[].directResponse.body.bytes": { compiled: "http-routes.ts (direct_response)" },
    "spec.http[].directResponse.body.string": { compiled: "http-routes.ts (direct_response)" },
    "spec.http[].directResponse.status": { compiled: "http-routes.ts (direct_response)" },
    "spec.http[].fault.abort": { compiled: "http-routes.ts (faultConfig)" },
    "spec.http[].fault.abort.grpcStatus": { compiled: "http-routes.ts (faultConfig)" },
    "spec.http[].fault.abort.http2Error": { notCompiled: "HTTP/2 error aborts are not supported by Istio (validation rejects them)" },
    "spec.http[].fault.abort.httpStatus": { compiled: "http-routes.ts (faultConfig)" },
    "spec.http[].fault.abort.percentage.value": { compiled: "http-routes.ts (faultConfig)" },
    "spec.http[].fault.delay": { compiled: "http-routes.ts (faultConfig)" },
    "spec.http[].fault.delay.exponentialDelay": { notCompiled: "exponential delays are not supported by Istio (validation rejects them)" },
    "spec.http[].fault.delay.fixedDelay": { compiled: "http-routes.ts (faultConfig)" },
    "spec.http[].fault.delay.percent": { compiled: "http-routes.ts (faultConfig)" },
    "spec.http[].fault.delay.percentage.value": { compiled: "http-routes.ts (faultConfig)" },
    "spec.http[].headers.request.add{}": { compiled: "http-routes.ts (applyHeaders)" },
    "spec.http[].headers.request.remove[]": { compiled: "http-routes.ts (applyHeaders)" },
    "spec.http[].headers.request.set{}": { compiled: "http-routes.ts (applyHeaders)" },
    "spec.http[].headers.response.add{}": { compiled: "http-routes.ts (applyHeaders)" },
    "spec.http[].headers.response.remove[]": { compiled: "http-routes.ts (applyHeaders)" },
    "spec.http[].headers.response.set{}": { compiled: "http-routes.ts (applyHeaders)" },
    "spec.http[].match[].authority": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].authority.exact": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].authority.prefix": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].authority.regex": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].gateways[]": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].headers{}": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].headers{}.exact": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].headers{}.prefix": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].headers{}.regex": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].ignoreUriCase": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].method": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].method.exact": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].method.prefix": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].method.regex": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].name": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].port": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].queryParams{}": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].queryParams{}.exact": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].queryParams{}.prefix": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].queryParams{}.regex": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].scheme": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].scheme.exact": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].scheme.prefix": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].scheme.regex": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].sourceLabels{}": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].sourceNamespace": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].statPrefix": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].uri": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].uri.exact": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].uri.prefix": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].uri.regex": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].withoutHeaders{}": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].withoutHeaders{}.exact": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].withoutHeaders{}.prefix": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].match[].withoutHeaders{}.regex": { compiled: "http-routes.ts (routeMatch, matchApplies)" },
    "spec.http[].mirror.host": { compiled: "http-routes.ts (request_mirror_policies)" },
    "spec.http[].mirror.port.number": { compiled: "http-routes.ts (request_mirror_policies)" },
    "spec.http[].mirror.subset": { compiled: "http-routes.ts (request_mirror_policies)" },
    "spec.http[].mirrorPercent": { compiled: "http-routes.ts (deprecated form, used when mirrorPercentage is absent)" },
    "spec.http[].mirrorPercentage.value": { compiled: "http-routes.ts" },
    "spec.http[].mirror_percent": { compiled: "http-routes.ts (deprecated form, used when mirrorPercentage is absent)" },
    "spec.http[].mirrors[].destination.host": { compiled: "http-routes.ts (request_mirror_policies)" },
    "spec.http[].mirrors[].destination.port.number": { compiled: "http-routes.ts (request_mirror_policies)" },
    "spec.http[].mirrors[].destination.subset": { compiled: "http-routes.ts (request_mirror_policies)" },
    "spec.http[].mirrors[].percentage.value": { compiled: "http-routes.ts (request_mirror_policies)" },
    "spec.http[].name": { compiled: "http-routes.ts (route name)" },
    "spec.http[].redirect": { compiled: "http-routes.ts (redirect)" },
    "spec.http[].redirect.authority": { compiled: "http-routes.ts (redirect)" },
    "spec.http[].redirect.derivePort": { compiled: "http-routes.ts (redirect)" },
    "spec.http[].redirect.port": { compiled: "http-routes.ts (redirect)" },
    "spec.http[].redirect.prefixRewrite": { compiled: "http-routes.ts (redirect)" },
    "spec.http[].redirect.redirectCode": { compiled: "http-routes.ts (redirect)" },
    "spec.http[].redirect.scheme": { compiled: "http-routes.ts (redirect)" },
    "spec.http[].redirect.uri": { compiled: "http-routes.ts (redirect)" },
    "spec.http[].retries.attempts": { compiled: "http-routes.ts (retryPolicy)" },
    "spec.http[].retries.backoff": { compiled: "http-routes.ts (retryPolicy)" },
    "spec.http[].retries.perTryTimeout": { compiled: "http-routes.ts (retryPolicy)" },
    "spec.http[].retries.retryIgnorePreviousHosts": { compiled: "http-routes.ts (retryPolicy)" },
    "spec.http[].retries.retryOn": { compiled: "http-routes.ts (retryPolicy)" },
    "spec.http[].retries.retryRemoteLocalities": { compiled: "http-routes.ts (retryPolicy)" },
    "spec.http[].rewrite.authority": { compiled: "http-routes.ts" },
    "spec.http[].rewrite.uri": { compiled: "http-routes.ts" },
    "spec.http[].rewrite.uriRegexRewrite.match": { compiled: "http-routes.ts" },
    "spec.http[].rewrite.uriRegexRewrite.rewrite": { compiled: "http-routes.ts" },
    "spec.http[].route[].destination.host": { compiled: "http-routes.ts (forwardAction), clusters.ts" },
    "spec.http[].route[].destination.port.number": { compiled: "http-routes.ts (forwardAction), clusters.ts" },
    "spec.http[].route[].destination.subset": { compiled: "http-routes.ts (forwardAction), clusters.ts" },
    "spec.http[].route[].headers.request.add{}": { compiled: "http-routes.ts (forwardAction), clusters.ts" },
    "spec.http[].route[].headers.request.remove[]": { compiled: "http-routes.ts (forwardAction), clusters.ts" },
    "spec.http[].route[].headers.request.set{}": { compiled: "http-routes.ts (forwardAction), clusters.ts" },
    "spec.http[].route[].headers.response.add{}": { compiled: "http-routes.ts (forwardAction), clusters.ts" },
    "spec.http[].route[].headers.response.remove[]": { compiled: "http-routes.ts (forwardAction), clusters.ts" },
    "spec.http[].route[].headers.response.set{}": { compiled: "http-routes.ts (forwardAction), clusters.ts" },
    "spec.http[].route[].weight": { compiled: "http-routes.ts (forwardAction), clusters.ts" },
    "spec.http[].timeout": { compiled: "http-routes.ts (timeout, max_grpc_timeout)" },
    "spec.tcp[].match[].destinationSubnets": { notCompiled: ignoredOnGateways },
    "spec.tcp[].match[].gateways[]": { compiled: "filter-chains/l4-routes.ts" },
    "spec.tcp[].match[].port": { compiled: "filter-chains/l4-routes.ts" },
    "spec.tcp[].match[].sourceLabels": { notCompiled: ignoredOnGateways },
    "spec.tcp[].match[].sourceNamespace": { notCompiled: ignoredOnGateways },
    "spec.tcp[].match[].sourceSubnet": { notCompiled: ignoredOnGateways },
    "spec.tcp[].route[].destination.host": { compiled: "filter-chains/l4-routes.ts (weightedTcpProxy)" },
    "spec.tcp[].route[].destination.port.number": { compiled: "filter-chains/l4-routes.ts (weightedTcpProxy)" },
    "spec.tcp[].route[].destination.subset": { compiled: "filter-chains/l4-routes.ts (weightedTcpProxy)" },
    "spec.tcp[].route[].weight": { compiled: "filter-chains/l4-routes.ts (weightedTcpProxy)" },
    "spec.tls[].match[].destinationSubnets": { notCompiled: ignoredOnGateways },
    "spec.tls[].match[].gateways[]": { compiled: "filter-chains/l4-routes.ts" },
    "spec.tls[].match[].port": { compiled: "filter-chains/l4-routes.ts" },
    "spec.tls[].match[].sniHosts[]": { compiled: "filter-chains/passthrough.ts (server_names)" },
    "spec.tls[].match[].sourceLabels": { notCompiled: ignoredOnGateways },
    "spec.tls[].match[].sourceNamespace": { notCompiled: ignoredOnGateways },
    "spec.tls[].route[].destination.host": { compiled: "filter-chains/l4-routes.ts (weightedTcpProxy)" },
    "spec.tls[].route[].destination.port.number": { compiled: "filter-chains/l4-routes.ts (weightedTcpProxy)" },
    "spec.tls[].route[].destination.subset": { compiled: "filter-chains/l4-routes.ts (weightedTcpProxy)" },
    "spec.tls[].route[].weight": { compiled: "filter-chains/l4-routes.ts (weightedTcpProxy)" },
  },
  DestinationRule: {
    "spec.exportTo": { notCompiled: "DestinationRule exportTo is not compiled yet; the rule applies to every proxy" },
    "spec.host": { compiled: "model/snapshot.ts (destinationRulesForHost)" },
    "spec.subsets[].labels{}": { compiled: "clusters.ts (endpoints by pod labels)" },
    "spec.subsets[].name": { compiled: "clusters.ts" },
    "spec.trafficPolicy.connectionPool.http.h2UpgradePolicy": { compiled: "cluster-policy.ts (applyConnectionPool)" },
    "spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests": { compiled: "cluster-policy.ts (applyConnectionPool)" },
    "spec.trafficPolicy.connectionPool.http.http2KeepAlive": { notCompiled: "HTTP/2 keepalive is not compiled yet" },
    "spec.trafficPolicy.connectionPool.http.http2MaxRequests": { compiled: "cluster-policy.ts (applyConnectionPool)" },
    "spec.trafficPolicy.connectionPool.http.idleTimeout": { compiled: "cluster-policy.ts (applyConnectionPool)" },
    "spec.trafficPolicy.connectionPool.http.maxConcurrentStreams": { compiled: "cluster-policy.ts (applyConnectionPool)" },
    "spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection": { compiled: "cluster-policy.ts (applyConnectionPool)" },
    "spec.trafficPolicy.connectionPool.http.maxRetries": { compiled: "cluster-policy.ts (applyConnectionPool)" },
    "spec.trafficPolicy.connectionPool.http.useClientProtocol": { compiled: "cluster-policy.ts (applyConnectionPool)" },
    "spec.trafficPolicy.connectionPool.tcp.connectTimeout": { compiled: "cluster-policy.ts (applyConnectionPool)" },
    "spec.trafficPolicy.connectionPool.tcp.idleTimeout": { notCompiled: "tcp.idleTimeout belongs to the TCP proxy filter and is not compiled yet" },
    "spec.trafficPolicy.connectionPool.tcp.maxConnectionDuration": { compiled: "cluster-policy.ts (applyConnectionPool)" },
    "spec.trafficPolicy.connectionPool.tcp.maxConnections": { compiled: "cluster-policy.ts (applyConnectionPool)" },
    "spec.trafficPolicy.connectionPool.tcp.tcpKeepalive.interval": { compiled: "cluster-policy.ts (applyConnectionPool)" },
    "spec.trafficPolicy.connectionPool.tcp.tcpKeepalive.probes": { compiled: "cluster-policy.ts (applyConnectionPool)" },
    "spec.trafficPolicy.connectionPool.tcp.tcpKeepalive.time": { compiled: "cluster-policy.ts (applyConnectionPool)" },
    "spec.trafficPolicy.loadBalancer": { compiled: "cluster-policy.ts (applyLoadBalancer)" },
    "spec.trafficPolicy.loadBalancer.consistentHash": { compiled: "cluster-policy.ts (applyLoadBalancer)" },
    "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes": { notCompiled: "cookie attributes are not compiled yet" },
    "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name": { compiled: "cluster-policy.ts (applyLoadBalancer)" },
    "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.path": { compiled: "cluster-policy.ts (applyLoadBalancer)" },
    "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.ttl": { compiled: "cluster-policy.ts (applyLoadBalancer)" },
    "spec.trafficPolicy.loadBalancer.consistentHash.httpHeaderName": { compiled: "cluster-policy.ts (applyLoadBalancer)" },
    "spec.trafficPolicy.loadBalancer.consistentHash.httpQueryParameterName": { compiled: "cluster-policy.ts (applyLoadBalancer)" },
    "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize": { compiled: "cluster-policy.ts (applyLoadBalancer)" },
    "spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize": { compiled: "cluster-policy.ts (applyLoadBalancer)" },
    "spec.trafficPolicy.loadBalancer.consistentHash.ringHash.minimumRingSize": { compiled: "cluster-policy.ts (applyLoadBalancer)" },
    "spec.trafficPolicy.loadBalancer.consistentHash.useSourceIp": { compiled: "cluster-policy.ts (applyLoadBalancer)" },
    "spec.trafficPolicy.loadBalancer.localityLbSetting": { notCompiled: "locality load balancing is not compiled yet (endpoints carry no locality)" },
    "spec.trafficPolicy.loadBalancer.simple": { compiled: "cluster-policy.ts (applyLoadBalancer)" },
    "spec.trafficPolicy.loadBalancer.warmup": { notCompiled: "slow start (warmup) is not compiled yet" },
    "spec.trafficPolicy.loadBalancer.warmupDurationSecs": { notCompiled: "slow start (warmupDurationSecs) is not compiled yet" },
    "spec.trafficPolicy.loadBalancer.zoneAwareLbSetting": { notCompiled: "zone-aware load balancing is not compiled yet (endpoints carry no locality)" },
    "spec.trafficPolicy.outlierDetection.baseEjectionTime": { compiled: "cluster-policy.ts (applyOutlierDetection)" },
    "spec.trafficPolicy.outlierDetection.consecutive5xxErrors": { compiled: "cluster-policy.ts (applyOutlierDetection)" },
    "spec.trafficPolicy.outlierDetection.consecutiveErrors": { compiled: "cluster-policy.ts (applyOutlierDetection)" },
    "spec.trafficPolicy.outlierDetection.consecutiveGatewayErrors": { compiled: "cluster-policy.ts (applyOutlierDetection)" },
    "spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures": { compiled: "cluster-policy.ts (applyOutlierDetection)" },
    "spec.trafficPolicy.outlierDetection.interval": { compiled: "cluster-policy.ts (applyOutlierDetection)" },
    "spec.trafficPolicy.outlierDetection.maxEjectionPercent": { compiled: "cluster-policy.ts (applyOutlierDetection)" },
    "spec.trafficPolicy.outlierDetection.minHealthPercent": { compiled: "cluster-policy.ts (applyOutlierDetection)" },
    "spec.trafficPolicy.outlierDetection.outlierDetectionHttpErrorCodes": { notCompiled: "custom outlier HTTP error codes are not compiled yet" },
    "spec.trafficPolicy.outlierDetection.splitExternalLocalOriginErrors": { compiled: "cluster-policy.ts (applyOutlierDetection)" },
    "spec.trafficPolicy.port.number": { compiled: "cluster-policy.ts (portLevelSettings)" },
    "spec.trafficPolicy.proxyProtocol": { notCompiled: "PROXY protocol towards the upstream is not compiled yet" },
    "spec.trafficPolicy.retryBudget": { notCompiled: "retry budgets are not compiled yet" },
    "spec.trafficPolicy.tls.caCertificates": { compiled: "cluster-policy.ts (applyTls)" },
    "spec.trafficPolicy.tls.caCrl": { notCompiled: "certificate revocation lists are not compiled yet" },
    "spec.trafficPolicy.tls.clientCertificate": { compiled: "cluster-policy.ts (applyTls)" },
    "spec.trafficPolicy.tls.credentialName": { compiled: "cluster-policy.ts (applyTls)" },
    "spec.trafficPolicy.tls.insecureSkipVerify": { compiled: "cluster-policy.ts (applyTls)" },
    "spec.trafficPolicy.tls.mode": { compiled: "cluster-policy.ts (applyTls)" },
    "spec.trafficPolicy.tls.privateKey": { compiled: "cluster-policy.ts (applyTls)" },
    "spec.trafficPolicy.tls.sni": { compiled: "cluster-policy.ts (applyTls)" },
    "spec.trafficPolicy.tls.subjectAltNames[]": { compiled: "cluster-policy.ts (applyTls)" },
    "spec.trafficPolicy.tunnel": { notCompiled: "tunnelling (HTTP CONNECT) is not compiled yet" },
    "spec.workloadSelector": { notCompiled: "workloadSelector is not compiled yet; the rule applies to every proxy" },
  },
};

/** The schema-style key of a path: DestinationRule subset and port-level policies share trafficPolicy's. */
export function supportKey(path: string): string {
  return path.replace(/^spec\.subsets\[\]\.trafficPolicy/, "spec.trafficPolicy").replace(/\.portLevelSettings\[\]/g, "");
}

/** The entry for a path: its own, else a `notCompiled` ancestor's. */
export function supportFor(kind: Kind, path: string): FieldSupport | undefined {
  // Paths are schema paths (a bounded set), looked up for every node of every resource: memoised.
  const memo = supportMemo[kind];
  if (memo.has(path)) return memo.get(path);
  const found = lookUpSupport(kind, path);
  memo.set(path, found);
  return found;
}

const supportMemo: Record<Kind, Map<string, FieldSupport | undefined>> = { Gateway: new Map(), VirtualService: new Map(), DestinationRule: new Map() };

function lookUpSupport(kind: Kind, path: string): FieldSupport | undefined {
  const table = fieldSupport[kind];
  let key = supportKey(path);
  const own = table[key];
  if (own) return own;
  for (;;) {
    const cut = Math.max(key.lastIndexOf("."), key.lastIndexOf("["), key.lastIndexOf("{"));
    if (cut <= 0) return undefined;
    key = key.slice(0, cut);
    const entry = table[key];
    if (entry && "notCompiled" in entry) return entry;
  }
}

/** Per kind, every schema path that is a map (`…{}`), i.e. each key cut after each of its `{}`. */
const mapPaths: Record<Kind, ReadonlySet<string>> = {
  Gateway: mapPathsOf("Gateway"),
  VirtualService: mapPathsOf("VirtualService"),
  DestinationRule: mapPathsOf("DestinationRule"),
};

function mapPathsOf(kind: Kind): Set<string> {
  const out = new Set<string>();
  for (const key of Object.keys(fieldSupport[kind])) {
    for (let at = key.indexOf("{}"); at >= 0; at = key.indexOf("{}", at + 2)) out.add(key.slice(0, at + 2));
  }
  return out;
}

/** A map (`{}`) in the schema: its keys are data, not field names. */
function isMap(kind: Kind, path: string): boolean {
  return mapPaths[kind].has(`${supportKey(path)}{}`);
}

/**
 * A warning for each field set on `resource` that the compiler does not compile (once per field
 * path, with the first place it is set), so nothing is ignored silently.
 */
export function notCompiledDiagnostics(kind: Kind, resource: { metadata: { name: string; namespace?: string }; spec?: unknown }, namespace: string): Diagnostic[] {
  // Every compile walks every resource; a resource object is never mutated (the informers
  // replace it on change), so its diagnostics are kept while it lives (per kind and namespace).
  const memoKey = `${kind}\u0000${namespace}`;
  let byKey = walkedResources.get(resource);
  const cached = byKey?.get(memoKey);
  if (cached) return [...cached];
  const diagnostics = walkNotCompiled(kind, resource, namespace);
  if (!byKey) walkedResources.set(resource, (byKey = new Map()));
  byKey.set(memoKey, diagnostics);
  return [...diagnostics];
}

const walkedResources = new WeakMap<object, Map<string, readonly Diagnostic[]>>();

function walkNotCompiled(kind: Kind, resource: { metadata: { name: string; namespace?: string }; spec?: unknown }, namespace: string): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  const seen = new Set<string>();
  const walk = (value: unknown, path: string, field: string): void => {
    if (value === undefined || value === null) return;
    const support = supportFor(kind, path);
    if (support && "notCompiled" in support) {
      const key = supportKey(path);
      if (!seen.has(key)) {
        seen.add(key);
        diagnostics.push({ severity: "warning", kind, namespace, name: resource.metadata.name, field, message: `not compiled by pilotfish: ${support.notCompiled}; ignored` });
      }
      return;
    }
    if (Array.isArray(value)) {
      value.forEach((item, index) => walk(item, `${path}[]`, `${field}[${index}]`));
    } else if (typeof value === "object") {
      const map = isMap(kind, path);
      for (const [name, child] of Object.entries(value as Record<string, unknown>)) walk(child, map ? `${path}{}` : `${path}.${name}`, `${field}.${name}`);
    } else if (!support) {
      const key = supportKey(path);
      if (!seen.has(key)) {
        seen.add(key);
        diagnostics.push({ severity: "warning", kind, namespace, name: resource.metadata.name, field, message: "not known to the compiler; ignored" });
      }
    }
  };
  walk(resource.spec, "spec", "spec");
  return diagnostics;
}
