import type {
  ClientTLSSettings,
  ConnectionPoolSettings,
  DestinationRuleSpec,
  LoadBalancerSettings,
  OutlierDetection,
  TrafficPolicy,
} from "../types.js";
import { checkDuration, checkExportTo, checkLabels, checkPortNumber } from "./common.js";
import type { Findings} from "./findings.js";
import { at, key } from "./findings.js";
import { isDnsLabel, wildcardDomainProblem } from "./names.js";

export function validateDestinationRuleSpec(spec: DestinationRuleSpec, out: Findings): void {
  if (!spec.host) out.error("spec.host", "host is required: the Service this rule applies to, e.g. reviews or reviews.prod.svc.cluster.local");
  else {
    const problem = wildcardDomainProblem(spec.host);
    if (problem) out.error("spec.host", problem);
  }
  if (spec.trafficPolicy) validateTrafficPolicy(spec.trafficPolicy, "spec.trafficPolicy", true, out);
  const names = new Map<string, number>();
  for (const [index, subset] of (spec.subsets ?? []).entries()) {
    const path = at("spec.subsets", index);
    if (!subset.name) out.error(`${path}.name`, "subset name is required, e.g. v1");
    else if (!isDnsLabel(subset.name)) out.error(`${path}.name`, `subset name "${subset.name}" is invalid: use a DNS-1123 label such as v1`);
    else {
      const first = names.get(subset.name);
      if (first !== undefined) out.error(`${path}.name`, `duplicate subset name "${subset.name}" (also spec.subsets[${first}]): subset names must be unique`);
      else names.set(subset.name, index);
    }
    checkLabels(out, `${path}.labels`, subset.labels);
    if (subset.trafficPolicy) validateTrafficPolicy(subset.trafficPolicy, `${path}.trafficPolicy`, true, out);
  }
  checkExportTo(out, "spec.exportTo", spec.exportTo);
  if (spec.workloadSelector) {
    checkLabels(out, "spec.workloadSelector.matchLabels", spec.workloadSelector.matchLabels);
    if (spec.exportTo?.some((e) => e !== ".")) {
      out.error("spec.workloadSelector", 'a DestinationRule with workloadSelector can only be exported to its own namespace: set exportTo to ["."] or remove it');
    }
  }
}

function validateTrafficPolicy(policy: TrafficPolicy, path: string, allowPortLevel: boolean, out: Findings): void {
  const fields = Object.values(policy).filter((v) => v !== undefined);
  if (fields.length === 0) out.error(path, "trafficPolicy must set at least one field (loadBalancer, connectionPool, outlierDetection, tls or portLevelSettings); remove it if empty");
  if (policy.loadBalancer) validateLoadBalancer(policy.loadBalancer, `${path}.loadBalancer`, out);
  if (policy.connectionPool) validateConnectionPool(policy.connectionPool, `${path}.connectionPool`, out);
  if (policy.outlierDetection) validateOutlierDetection(policy.outlierDetection, `${path}.outlierDetection`, out);
  if (policy.tls) validateClientTLS(policy.tls, `${path}.tls`, out);
  if (policy.tunnel) {
    const protocol = policy.tunnel.protocol;
    if (protocol !== undefined && protocol !== "" && protocol !== "CONNECT" && protocol !== "POST") {
      out.error(`${path}.tunnel.protocol`, `tunnel protocol "${protocol}" is not supported: use CONNECT or POST`);
    }
    const problem = policy.tunnel.targetHost ? wildcardDomainProblem(policy.tunnel.targetHost) : "tunnel.targetHost is required";
    if (problem && !/^[\d.:]+$/.test(policy.tunnel.targetHost ?? "")) out.error(`${path}.tunnel.targetHost`, problem);
    checkPortNumber(out, `${path}.tunnel.targetPort`, policy.tunnel.targetPort);
  }
  if (!allowPortLevel) return;
  const ports = new Map<number, number>();
  for (const [index, portPolicy] of (policy.portLevelSettings ?? []).entries()) {
    const portPath = at(`${path}.portLevelSettings`, index);
    const number = portPolicy.port?.number;
    if (number === undefined) {
      out.error(`${portPath}.port`, "a port-level traffic policy needs port.number");
    } else {
      checkPortNumber(out, `${portPath}.port.number`, number);
      const first = ports.get(number);
      if (first !== undefined) out.error(`${portPath}.port.number`, `port ${number} already has a policy in portLevelSettings[${first}]: merge them`);
      else ports.set(number, index);
    }
    const { port: _port, ...settings } = portPolicy;
    validateTrafficPolicy(settings, portPath, false, out);
  }
}

function validateLoadBalancer(lb: LoadBalancerSettings, path: string, out: Findings): void {
  if (lb.simple !== undefined && lb.consistentHash) out.error(path, "loadBalancer.simple and loadBalancer.consistentHash cannot both be set: keep one");
  const hash = lb.consistentHash;
  if (hash) {
    const keys = (["httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName"] as const).filter((f) => hash[f] !== undefined);
    if (keys.length > 1) out.error(`${path}.consistentHash`, `only one hash key may be set, found ${keys.join(" and ")}`);
    if (hash.httpCookie && !hash.httpCookie.name) out.error(`${path}.consistentHash.httpCookie.name`, "httpCookie.name is required");
    if (hash.httpCookie?.ttl !== undefined) {
      const ttl = hash.httpCookie.ttl;
      // A zero ttl is Istio's "session cookie": allowed, unlike other durations.
      if (!/^0+(\.0*)?[a-z]*$/.test(ttl)) checkDuration(out, `${path}.consistentHash.httpCookie.ttl`, ttl);
    }
    if (hash.httpHeaderName !== undefined && hash.httpHeaderName === "") out.error(`${path}.consistentHash.httpHeaderName`, "httpHeaderName cannot be empty");
    if (hash.ringHash && hash.maglev) out.error(`${path}.consistentHash`, "ringHash and maglev cannot both be set");
    if (hash.minimumRingSize !== undefined && (hash.ringHash || hash.maglev)) {
      out.error(`${path}.consistentHash.minimumRingSize`, "minimumRingSize is deprecated and cannot be combined with ringHash or maglev: use ringHash.minimumRingSize");
    }
  }
  const locality = lb.localityLbSetting;
  if (locality) {
    if (locality.distribute?.length && locality.failover?.length) {
      out.error(`${path}.localityLbSetting`, "distribute and failover cannot both be set: keep one");
    }
    for (const [index, rule] of (locality.distribute ?? []).entries()) {
      const total = Object.values(rule.to ?? {}).reduce((sum, weight) => sum + weight, 0);
      if (total !== 100) out.error(`${at(`${path}.localityLbSetting.distribute`, index)}.to`, `the weights in 'to' add up to ${total}; they must add up to 100`);
    }
    for (const [index, rule] of (locality.failover ?? []).entries()) {
      if (rule.from && rule.from === rule.to) out.error(at(`${path}.localityLbSetting.failover`, index), `failover from "${rule.from}" to itself is meaningless: use another region`);
    }
  }
  checkDuration(out, `${path}.warmupDurationSecs`, lb.warmupDurationSecs);
  if (lb.warmup) checkDuration(out, `${path}.warmup.duration`, lb.warmup.duration);
}

function validateConnectionPool(pool: ConnectionPoolSettings, path: string, out: Findings): void {
  if (!pool.tcp && !pool.http) out.error(path, "connectionPool must set tcp or http; remove it if empty");
  const nonNegative = (fieldPath: string, value: number | undefined): void => {
    if (value !== undefined && value < 0) out.error(fieldPath, `${value} cannot be negative`);
  };
  if (pool.tcp) {
    nonNegative(`${path}.tcp.maxConnections`, pool.tcp.maxConnections);
    checkDuration(out, `${path}.tcp.connectTimeout`, pool.tcp.connectTimeout);
    checkDuration(out, `${path}.tcp.maxConnectionDuration`, pool.tcp.maxConnectionDuration);
    checkDuration(out, `${path}.tcp.idleTimeout`, pool.tcp.idleTimeout);
    checkDuration(out, `${path}.tcp.tcpKeepalive.time`, pool.tcp.tcpKeepalive?.time);
    checkDuration(out, `${path}.tcp.tcpKeepalive.interval`, pool.tcp.tcpKeepalive?.interval);
  }
  if (pool.http) {
    nonNegative(`${path}.http.http1MaxPendingRequests`, pool.http.http1MaxPendingRequests);
    nonNegative(`${path}.http.http2MaxRequests`, pool.http.http2MaxRequests);
    nonNegative(`${path}.http.maxRequestsPerConnection`, pool.http.maxRequestsPerConnection);
    nonNegative(`${path}.http.maxRetries`, pool.http.maxRetries);
    nonNegative(`${path}.http.maxConcurrentStreams`, pool.http.maxConcurrentStreams);
    checkDuration(out, `${path}.http.idleTimeout`, pool.http.idleTimeout);
  }
}

function validateOutlierDetection(outlier: OutlierDetection, path: string, out: Findings): void {
  if (outlier.consecutiveErrors !== undefined && outlier.consecutiveErrors < 0) out.error(`${path}.consecutiveErrors`, "consecutiveErrors cannot be negative");
  if (outlier.consecutiveErrors !== undefined) out.warning(`${path}.consecutiveErrors`, "consecutiveErrors is deprecated: use consecutive5xxErrors");
  checkDuration(out, `${path}.interval`, outlier.interval);
  checkDuration(out, `${path}.baseEjectionTime`, outlier.baseEjectionTime);
  for (const field of ["maxEjectionPercent", "minHealthPercent"] as const) {
    const value = outlier[field];
    if (value !== undefined && (value < 0 || value > 100)) out.error(`${path}.${field}`, `${field} ${value} must be between 0 and 100`);
  }
  if (outlier.consecutiveLocalOriginFailures !== undefined && outlier.consecutiveLocalOriginFailures !== null && !outlier.splitExternalLocalOriginErrors) {
    out.warning(`${path}.consecutiveLocalOriginFailures`, "consecutiveLocalOriginFailures has no effect unless splitExternalLocalOriginErrors is true");
  }
}

function validateClientTLS(tls: ClientTLSSettings, path: string, out: Findings): void {
  const mode = tls.mode ?? "DISABLE";
  if (mode === "MUTUAL" && !tls.credentialName) {
    if (!tls.clientCertificate) out.error(`${path}.clientCertificate`, "MUTUAL TLS requires a client certificate: set clientCertificate and privateKey, or credentialName");
    if (!tls.privateKey) out.error(`${path}.privateKey`, "MUTUAL TLS requires a private key: set clientCertificate and privateKey, or credentialName");
  }
  if (tls.credentialName && (tls.clientCertificate || tls.privateKey || tls.caCertificates)) {
    out.error(`${path}.credentialName`, "credentialName cannot be combined with clientCertificate, privateKey or caCertificates: keep one source");
  }
  if (mode === "ISTIO_MUTUAL" || mode === "DISABLE") {
    for (const field of ["clientCertificate", "privateKey", "caCertificates", "credentialName"] as const) {
      if (tls[field]) out.warning(key(path, field), `${field} is ignored in mode ${mode}: remove it or use mode MUTUAL`);
    }
  }
}
