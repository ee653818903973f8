import { parseDuration } from "../duration.js";
import type {
  ClientTLSSettings,
  ConnectionPoolSettings,
  DestinationRuleSpec,
  LoadBalancerSettings,
  OutlierDetection,
  TrafficPolicy,
} from "../types.js";
import { checkDuration, checkExportTo, checkLabels, checkPortNumber } from "./common.js";
import type { Findings } from "./findings.js";
import { at, key } from "./findings.js";
import { fqdnProblem, isDnsLabel, isIP, wildcardDomainProblem } from "./names.js";

/*
 * Istio's DestinationRule rules: pkg/config/validation/validation.go ValidateDestinationRule,
 * validateTrafficPolicy, validateOutlierDetection, validateConnectionPool, validateLoadBalancer,
 * validatePortTrafficPolicies; agent/validation.go ValidateTLS, ValidateLocalityLbSetting,
 * ValidateZoneAwareLbSetting, validateLocalities.
 */

type PortTrafficPolicy = NonNullable<TrafficPolicy["portLevelSettings"]>[number];
type LocalitySetting = NonNullable<LoadBalancerSettings["localityLbSetting"]>;
type ZoneAwareSetting = NonNullable<LoadBalancerSettings["zoneAwareLbSetting"]>;

const TOPOLOGY_LABELS = new Set(["topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone"]);
/** Envoy's (and Istio's) maglev table-size ceiling. */
const MAGLEV_MAX_TABLE_SIZE = 5000011;

export function validateDestinationRuleSpec(spec: DestinationRuleSpec, out: Findings): void {
  const hostProblem = wildcardDomainProblem(spec.host ?? "");
  if (hostProblem) out.error("spec.host", spec.host ? hostProblem : "host is required: the Service this rule applies to, e.g. reviews or reviews.prod.svc.cluster.local");
  if (spec.trafficPolicy) validateTrafficPolicy(spec.trafficPolicy, "spec.trafficPolicy", out);
  const names = new Map<string, number>();
  for (const [index, subset] of (spec.subsets ?? []).entries()) {
    const path = at("spec.subsets", index);
    const name = subset.name ?? "";
    const first = names.get(name);
    if (first !== undefined) out.error(`${path}.name`, `duplicate subset name "${name}" (also spec.subsets[${first}]): subset names must be unique`);
    else names.set(name, index);
    if (name === "") out.error(`${path}.name`, "subset name is required, e.g. v1");
    else if (!isDnsLabel(name)) out.error(`${path}.name`, `subset name "${name}" is invalid: use a DNS-1123 label such as v1`);
    checkLabels(out, `${path}.labels`, subset.labels);
    if (subset.trafficPolicy) validateTrafficPolicy(subset.trafficPolicy, `${path}.trafficPolicy`, out);
  }
  checkExportTo(out, "spec.exportTo", spec.exportTo);
  if (spec.workloadSelector) {
    // validateExportTo with isDestinationRuleWithSelector: only the rule's own namespace.
    const exportTo = spec.exportTo ?? [];
    if (exportTo.length > 0) {
      if (!exportTo.includes(".")) out.error("spec.exportTo", 'a DestinationRule with workloadSelector cannot be exported beyond its own namespace: set exportTo to ["."] or remove it');
      else if (new Set(exportTo).size > 1) out.error("spec.exportTo", 'a DestinationRule with workloadSelector cannot have several exportTo entries: use ["."]');
    }
    const labels = spec.workloadSelector.matchLabels ?? {};
    for (const [name, value] of Object.entries(labels)) {
      const labelPath = key("spec.workloadSelector.matchLabels", name);
      if (name === "") out.error(labelPath, "an empty label key is not supported in workloadSelector");
      if (name.includes("*") || value.includes("*")) out.error(labelPath, `wildcards are not supported in workloadSelector: "${name}=${value}"`);
      else if (value.length > 63) out.error(labelPath, `label value is ${value.length} characters long: at most 63 (Istio's CRD maxLength)`);
    }
    if (Object.keys(labels).length === 0) out.warning("spec.workloadSelector", "workloadSelector has no labels: it selects every workload in the namespace");
  }
}

function validateTrafficPolicy(policy: TrafficPolicy, path: string, out: Findings): void {
  const set = (["outlierDetection", "connectionPool", "loadBalancer", "tls", "portLevelSettings", "tunnel", "proxyProtocol", "retryBudget"] as const).filter((f) => policy[f] !== undefined);
  if (set.length === 0) return out.error(path, "trafficPolicy must set at least one field (loadBalancer, connectionPool, outlierDetection, tls, portLevelSettings, ...); remove it if empty");
  if (policy.tunnel && policy.proxyProtocol) return out.error(path, "tunnel and proxyProtocol cannot both be set");
  validatePolicyParts(policy, path, out);
  for (const [index, portPolicy] of (policy.portLevelSettings ?? []).entries()) validatePortPolicy(portPolicy, at(`${path}.portLevelSettings`, index), out);
  if (policy.tunnel) {
    const tunnel = policy.tunnel;
    if (tunnel.protocol && tunnel.protocol !== "CONNECT" && tunnel.protocol !== "POST") out.error(`${path}.tunnel.protocol`, `tunnel protocol "${tunnel.protocol}" is not supported: use CONNECT or POST`);
    if (fqdnProblem(tunnel.targetHost) && !isIP(tunnel.targetHost)) out.error(`${path}.tunnel.targetHost`, `tunnel targetHost "${tunnel.targetHost}" must be a domain name or an IP address`);
    checkPortNumber(out, `${path}.tunnel.targetPort`, tunnel.targetPort);
  }
}

/** The four parts a port-level policy shares with the rule-level one. */
function validatePolicyParts(policy: Pick<TrafficPolicy, "outlierDetection" | "connectionPool" | "loadBalancer" | "tls">, path: string, out: Findings): void {
  if (policy.outlierDetection) validateOutlierDetection(policy.outlierDetection, `${path}.outlierDetection`, out);
  if (policy.connectionPool) validateConnectionPool(policy.connectionPool, `${path}.connectionPool`, out);
  if (policy.loadBalancer) validateLoadBalancer(policy.loadBalancer, policy.outlierDetection, `${path}.loadBalancer`, out);
  if (policy.tls) validateClientTLS(policy.tls, `${path}.tls`, out);
}

/** validatePortTrafficPolicies: a port is required, its number is not checked (nor duplicates). */
function validatePortPolicy(policy: PortTrafficPolicy, path: string, out: Findings): void {
  if (!policy.port) out.error(`${path}.port`, "a port-level traffic policy needs port (port.number)");
  if (!policy.outlierDetection && !policy.connectionPool && !policy.loadBalancer && !policy.tls) {
    return out.error(path, "a port-level traffic policy must set at least one of loadBalancer, connectionPool, outlierDetection or tls");
  }
  validatePolicyParts(policy, path, out);
}

function validateLoadBalancer(lb: LoadBalancerSettings, outlier: OutlierDetection | undefined, path: string, out: Findings): void {
  const hash = lb.consistentHash;
  if (hash) {
    const hashPath = `${path}.consistentHash`;
    const attributes = hash.httpCookie?.attributes ?? [];
    const seen = new Set<string>();
    for (const [index, attribute] of attributes.entries()) {
      const attributePath = at(`${hashPath}.httpCookie.attributes`, index);
      if (!attribute.name) out.error(`${attributePath}.name`, "a cookie attribute needs a name");
      else if (seen.has(attribute.name)) out.error(`${attributePath}.name`, `duplicate cookie attribute "${attribute.name}"`);
      else seen.add(attribute.name);
    }
    if (hash.httpCookie?.ttl !== undefined) {
      const ttl = parseDuration(hash.httpCookie.ttl);
      if ("error" in ttl) out.error(`${hashPath}.httpCookie.ttl`, ttl.error);
    }
    if (hash.minimumRingSize !== undefined && hash.minimumRingSize !== 0) {
      out.warning(`${hashPath}.minimumRingSize`, "minimumRingSize is deprecated: use ringHash.minimumRingSize");
      if (hash.ringHash || hash.maglev) out.error(`${hashPath}.minimumRingSize`, "minimumRingSize cannot be combined with ringHash or maglev: use ringHash.minimumRingSize");
    }
    if (hash.maglev) {
      const size = hash.maglev.tableSize ?? 0;
      const sizePath = `${hashPath}.maglev.tableSize`;
      if (size === 0) out.error(sizePath, "maglev.tableSize must be set (a prime number such as 65537)");
      if (size >= MAGLEV_MAX_TABLE_SIZE) out.error(sizePath, `maglev.tableSize ${size} must be less than ${MAGLEV_MAX_TABLE_SIZE}`);
      if (!isPrime(size)) out.error(sizePath, `maglev.tableSize ${size} must be a prime number (e.g. 65537)`);
    }
  }
  if (lb.localityLbSetting && lb.zoneAwareLbSetting) out.error(path, "localityLbSetting and zoneAwareLbSetting cannot both be set: keep one");
  if (lb.localityLbSetting) validateLocalityLb(lb.localityLbSetting, outlier, `${path}.localityLbSetting`, out);
  if (lb.zoneAwareLbSetting) validateZoneAwareLb(lb.zoneAwareLbSetting, outlier, `${path}.zoneAwareLbSetting`, out);
  if (lb.warmup) {
    checkDuration(out, `${path}.warmup.duration`, lb.warmup.duration);
    const aggression = lb.warmup.aggression;
    if (aggression !== undefined && aggression !== null && aggression <= 0) out.error(`${path}.warmup.aggression`, `warmup.aggression ${aggression} must be greater than 0`);
  }
  // Only the CRD's CEL rule applies here: at least 1ms.
  if (lb.warmupDurationSecs !== undefined) {
    const parsed = parseDuration(lb.warmupDurationSecs);
    if ("error" in parsed) out.error(`${path}.warmupDurationSecs`, parsed.error);
    else if (parsed.ms < 1) out.error(`${path}.warmupDurationSecs`, `duration "${lb.warmupDurationSecs}" must be at least 1ms`);
  }
}

/** Envoy's IsPrime as Istio copies it (validation.go isPrime): 1, 2 and 3 count as prime. */
function isPrime(value: number): boolean {
  if (value !== 0 && value < 4) return true;
  if (value % 2 === 0) return false;
  const limit = Math.floor(Math.sqrt(value));
  for (let factor = 3; factor <= limit; factor += 2) if (value % factor === 0) return false;
  return true;
}

/** agent/validation.go ValidateLocalityLbSetting: Istio returns at the first distribute problem. */
function validateLocalityLb(setting: LocalitySetting, outlier: OutlierDetection | undefined, path: string, out: Findings): void {
  const distribute = setting.distribute ?? [];
  const failover = setting.failover ?? [];
  const priority = setting.failoverPriority ?? [];
  if (distribute.length > 0 && failover.length > 0) return out.error(path, "distribute and failover cannot both be set: keep one");
  if (failover.length > 0) {
    const topology = priority.find((label) => TOPOLOGY_LABELS.has(label));
    if (topology) return out.error(`${path}.failoverPriority`, `failover cannot be combined with the topology label "${topology}" in failoverPriority`);
  }
  const sources: string[] = [];
  for (const [index, rule] of distribute.entries()) {
    const rulePath = at(`${path}.distribute`, index);
    sources.push(rule.from ?? "");
    let total = 0;
    for (const [locality, weight] of Object.entries(rule.to ?? {})) {
      if (weight <= 0 || weight > 100) return out.error(key(`${rulePath}.to`, locality), `locality weight ${weight} must be between 1 and 100`);
      total += weight;
    }
    if (total !== 100) return out.error(`${rulePath}.to`, `the weights in 'to' add up to ${total}; they must add up to 100`);
    const problem = localitiesProblem(Object.keys(rule.to ?? {}));
    if (problem) out.error(`${rulePath}.to`, problem);
  }
  const problem = localitiesProblem(sources);
  if (problem) out.error(`${path}.distribute`, problem);
  if ((failover.length > 0 || priority.length > 0) && !outlier) out.warning(path, "failover needs outlierDetection to take effect: add trafficPolicy.outlierDetection");
  for (const [index, rule] of failover.entries()) checkFailover(rule, at(`${path}.failover`, index), "locality", out);
}

function checkFailover(rule: { from?: string; to?: string }, path: string, kind: string, out: Findings): void {
  const from = rule.from ?? "";
  const to = rule.to ?? "";
  if (from === to) out.error(path, `${kind} failover from "${from}" to "${to}" must name two different regions`);
  if (from.includes("/") || to.includes("/")) out.error(path, `${kind} failover names regions only (no "/zone")`);
  if (from.includes("*") || to.includes("*")) out.error(path, `${kind} failover regions cannot contain the '*' wildcard`);
}

/** agent/validation.go ValidateZoneAwareLbSetting. */
function validateZoneAwareLb(setting: ZoneAwareSetting, outlier: OutlierDetection | undefined, path: string, out: Findings): void {
  const failover = setting.failover ?? [];
  const priority = setting.failoverPriority ?? [];
  for (const [index, label] of priority.entries()) {
    if (TOPOLOGY_LABELS.has(label)) out.error(at(`${path}.failoverPriority`, index), `zone-aware failoverPriority cannot use the topology label "${label}": region and zone routing are automatic`);
  }
  if ((failover.length > 0 || priority.length > 0) && !outlier) out.warning(path, "failover needs outlierDetection to take effect: add trafficPolicy.outlierDetection");
  for (const [index, rule] of failover.entries()) checkFailover(rule, at(`${path}.failover`, index), "zone-aware", out);
}

/** agent/validation.go validateLocalities: `*` once and last, no empty parts, no overlap. */
function localitiesProblem(localities: readonly string[]): string | undefined {
  const regions = new Map<string, Map<string, Set<string>>>();
  for (const locality of localities) {
    const stars = locality.split("*").length - 1;
    if (stars > 1 || (stars === 1 && !locality.endsWith("*"))) return `locality "${locality}": the wildcard '*' may appear once, at the end`;
    if (regions.has("*")) return `locality "${locality}" overlaps with an earlier one`;
    const parts = splitLocality(locality);
    if (parts.some((part) => part === "")) return `locality "${locality}" must not contain an empty region, zone or subzone`;
    const [region = "", zone = "", subZone = ""] = parts;
    const zones = regions.get(region);
    if (parts.length === 1) {
      if (zones) return `locality "${locality}" overlaps with an earlier one`;
      regions.set(region, new Map([["*", new Set(["*"])]]));
    } else if (parts.length === 2) {
      if (zones) {
        if (zones.has("*") || zones.has(zone)) return `locality "${locality}" overlaps with an earlier one`;
        zones.set(zone, new Set(["*"]));
      } else regions.set(region, new Map([[zone, new Set(["*"])]]));
    } else if (zones) {
      if (zones.has("*")) return `locality "${locality}" overlaps with an earlier one`;
      const subZones = zones.get(zone);
      if (subZones) {
        if (subZones.has("*") || subZones.has(subZone)) return `locality "${locality}" overlaps with an earlier one`;
        subZones.add(subZone);
      } else zones.set(zone, new Set([subZone]));
    } else regions.set(region, new Map([[zone, new Set([subZone])]]));
  }
  return undefined;
}

/** strings.SplitN(locality, "/", 3). */
function splitLocality(locality: string): string[] {
  const parts = locality.split("/");
  return parts.length <= 3 ? parts : [parts[0] ?? "", parts[1] ?? "", parts.slice(2).join("/")];
}

function validateConnectionPool(pool: ConnectionPoolSettings, path: string, out: Findings): void {
  if (!pool.tcp && !pool.http) return out.error(path, "connectionPool must set tcp or http; remove it if empty");
  const nonNegative = (fieldPath: string, value: number | undefined): void => {
    if (value !== undefined && value < 0) out.error(fieldPath, `${value} cannot be negative`);
  };
  if (pool.http) {
    const http = pool.http;
    nonNegative(`${path}.http.http1MaxPendingRequests`, http.http1MaxPendingRequests);
    nonNegative(`${path}.http.http2MaxRequests`, http.http2MaxRequests);
    nonNegative(`${path}.http.maxRequestsPerConnection`, http.maxRequestsPerConnection);
    nonNegative(`${path}.http.maxRetries`, http.maxRetries);
    checkDuration(out, `${path}.http.idleTimeout`, http.idleTimeout);
    if (http.h2UpgradePolicy === "UPGRADE" && http.useClientProtocol) out.error(`${path}.http.useClientProtocol`, "useClientProtocol cannot be true when h2UpgradePolicy is UPGRADE");
    nonNegative(`${path}.http.maxConcurrentStreams`, http.maxConcurrentStreams);
    const keepAlive = http.http2KeepAlive;
    if (keepAlive) {
      if (keepAlive.interval === undefined) out.error(`${path}.http.http2KeepAlive.interval`, "http2KeepAlive.interval is required");
      else checkDuration(out, `${path}.http.http2KeepAlive.interval`, keepAlive.interval);
      if (keepAlive.timeout === undefined) out.error(`${path}.http.http2KeepAlive.timeout`, "http2KeepAlive.timeout is required");
      else checkDuration(out, `${path}.http.http2KeepAlive.timeout`, keepAlive.timeout);
    }
  }
  if (pool.tcp) {
    const tcp = pool.tcp;
    nonNegative(`${path}.tcp.maxConnections`, tcp.maxConnections);
    checkDuration(out, `${path}.tcp.connectTimeout`, tcp.connectTimeout);
    checkDuration(out, `${path}.tcp.maxConnectionDuration`, tcp.maxConnectionDuration);
    // idleTimeout "0s" disables the timeout.
    if (tcp.idleTimeout !== undefined) {
      const parsed = parseDuration(tcp.idleTimeout);
      if ("error" in parsed || Math.trunc(parsed.ms) !== 0) checkDuration(out, `${path}.tcp.idleTimeout`, tcp.idleTimeout);
    }
    checkDuration(out, `${path}.tcp.tcpKeepalive.time`, tcp.tcpKeepalive?.time);
    checkDuration(out, `${path}.tcp.tcpKeepalive.interval`, tcp.tcpKeepalive?.interval);
  }
}

function validateOutlierDetection(outlier: OutlierDetection, path: string, out: Findings): void {
  checkDuration(out, `${path}.baseEjectionTime`, outlier.baseEjectionTime);
  if (outlier.consecutiveErrors !== undefined && outlier.consecutiveErrors !== 0) {
    out.warning(`${path}.consecutiveErrors`, "consecutiveErrors is deprecated: use consecutiveGatewayErrors or consecutive5xxErrors");
  }
  const localOrigin = outlier.consecutiveLocalOriginFailures ?? 0;
  if (!outlier.splitExternalLocalOriginErrors && localOrigin > 0) {
    out.error(`${path}.consecutiveLocalOriginFailures`, "consecutiveLocalOriginFailures needs splitExternalLocalOriginErrors: true");
  }
  checkDuration(out, `${path}.interval`, outlier.interval);
  for (const field of ["maxEjectionPercent", "minHealthPercent"] as const) {
    const value = outlier[field];
    if (value !== undefined && (value < 0 || value > 100)) out.error(`${path}.${field}`, `${field} ${value} must be between 0 and 100`);
  }
}

/** agent/validation.go ValidateTLS (plus pilotfish's warnings for ignored fields, which accept). */
function validateClientTLS(tls: ClientTLSSettings, path: string, out: Findings): void {
  const mode = tls.mode ?? "DISABLE";
  if (tls.insecureSkipVerify) {
    if (mode === "SIMPLE" && (tls.caCertificates || tls.credentialName || tls.subjectAltNames !== undefined)) {
      out.error(`${path}.insecureSkipVerify`, "insecureSkipVerify cannot be combined with caCertificates, credentialName or subjectAltNames");
    }
    if (mode === "MUTUAL" && (tls.caCertificates || tls.subjectAltNames !== undefined)) {
      out.error(`${path}.insecureSkipVerify`, "insecureSkipVerify cannot be combined with caCertificates or subjectAltNames");
    }
  }
  if ((mode === "SIMPLE" || mode === "MUTUAL") && tls.credentialName) {
    if (tls.clientCertificate || tls.privateKey || tls.caCertificates || tls.caCrl) {
      out.error(`${path}.credentialName`, "credentialName cannot be combined with clientCertificate, privateKey, caCertificates or caCrl: keep one source");
    }
    return;
  }
  if (mode === "MUTUAL") {
    if (!tls.clientCertificate) out.error(`${path}.clientCertificate`, "MUTUAL TLS requires a client certificate: set clientCertificate and privateKey, or credentialName");
    if (!tls.privateKey) out.error(`${path}.privateKey`, "MUTUAL TLS requires a private key: set clientCertificate and privateKey, or credentialName");
  }
  if (mode === "ISTIO_MUTUAL" || mode === "DISABLE") {
    for (const field of ["clientCertificate", "privateKey", "caCertificates", "credentialName"] as const) {
      if (tls[field]) out.warning(key(path, field), `${field} is ignored in mode ${mode}: remove it or use mode MUTUAL`);
    }
  }
}
