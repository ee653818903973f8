/**
 * `pilotfish analyze`'s cross-reference checks: what one resource cannot know alone (does the
 * Gateway exist, does any of its servers serve this host, is there a Service, a port, a subset, a
 * credential; do two VirtualServices claim one host; can a rule ever be reached; does the
 * ingress Service expose the Gateway's ports). Pure: a snapshot in, findings out. Codes are
 * istioctl's where Istio has the same check (IST…), pilotfish's own otherwise (PF…); all are
 * listed in docs/cli.md.
 */
import type { Destination, Gateway, HTTPMatchRequest, VirtualService } from "../model/istio.js";
import type { Service } from "../model/kube.js";
import type { Snapshot } from "../model/snapshot.js";
import { clusterDomainSuffix, resolveShortHost } from "../model/snapshot.js";
import { gatewayRefs, namespaceOf, resourceKey } from "../compile/binding.js";
import { intersect, parseServerHost } from "../compile/hosts.js";
import { resolveCredential } from "../compile/tls/credentials.js";

export interface AnalysisCode {
  code: string;
  name: string;
}

export const codes = {
  referencedResourceNotFound: { code: "IST0101", name: "ReferencedResourceNotFound" },
  conflictingMeshGatewayVirtualServiceHosts: { code: "IST0109", name: "ConflictingMeshGatewayVirtualServiceHosts" },
  destinationPortSelectorRequired: { code: "IST0112", name: "VirtualServiceDestinationPortSelectorRequired" },
  unreachableRule: { code: "IST0130", name: "VirtualServiceUnreachableRule" },
  hostNotFoundInGateway: { code: "IST0132", name: "VirtualServiceHostNotFoundInGateway" },
  invalidGatewayCredential: { code: "IST0161", name: "InvalidGatewayCredential" },
  gatewayPortNotDefinedOnService: { code: "IST0162", name: "GatewayPortNotDefinedOnService" },
  conflictingGatewayVirtualServiceHosts: { code: "PF0101", name: "ConflictingGatewayVirtualServiceHosts" },
} as const satisfies Record<string, AnalysisCode>;

export interface AnalysisFinding extends AnalysisCode {
  level: "Error" | "Warning" | "Info";
  kind: string;
  namespace: string;
  resourceName: string;
  field: string;
  message: string;
  fix: string;
}

function finding(code: AnalysisCode, level: AnalysisFinding["level"], resource: { kind: string; metadata: { name: string; namespace?: string } }, field: string, message: string, fix: string): AnalysisFinding {
  return { ...code, level, kind: resource.kind, namespace: namespaceOf(resource), resourceName: resource.metadata.name, field, message, fix };
}

const withKind = <T extends { metadata: { name: string; namespace?: string } }>(kind: string, resource: T): T & { kind: string } => ({ ...resource, kind });

/** The gateway workload namespace credentials are looked up in first (Istio: the gateway pod's). */
export interface AnalysisOptions {
  gatewayNamespace: string;
}

export function analyzeSnapshot(snapshot: Snapshot, services: readonly Service[], options: AnalysisOptions = { gatewayNamespace: "istio-system" }): AnalysisFinding[] {
  return [
    ...gatewayReferences(snapshot),
    ...destinations(snapshot),
    ...credentials(snapshot, options),
    ...duplicateHosts(snapshot),
    ...unreachableRules(snapshot),
    ...gatewayServicePorts(snapshot, services),
  ];
}

/** IST0101 for a Gateway that does not exist; IST0132 for a host none of the named Gateways' servers serve. */
function gatewayReferences(snapshot: Snapshot): AnalysisFinding[] {
  const out: AnalysisFinding[] = [];
  const gateways = new Map(snapshot.gateways.map((gateway) => [resourceKey(gateway), gateway]));
  for (const virtualService of snapshot.virtualServices) {
    const vs = withKind("VirtualService", virtualService);
    const refs = gatewayRefs(virtualService);
    const existing: Gateway[] = [];
    for (const [index, ref] of refs.entries()) {
      const gateway = gateways.get(ref);
      if (gateway) existing.push(gateway);
      else out.push(finding(codes.referencedResourceNotFound, "Error", vs, `spec.gateways[${index}]`, `Referenced gateway not found: "${ref}"`, `create Gateway ${ref}, or name an existing one (${[...gateways.keys()].join(", ") || "none exists"})`));
    }
    if (existing.length === 0) continue;
    const ns = namespaceOf(virtualService);
    for (const [index, host] of (virtualService.spec.hosts ?? []).entries()) {
      const served = existing.some((gateway) =>
        (gateway.spec.servers ?? []).some((server) =>
          (server.hosts ?? []).some((text) => {
            const serverHost = parseServerHost(text, namespaceOf(gateway));
            return (serverHost.namespace === "*" || serverHost.namespace === ns) && intersect(resolveShortHost(host, ns), serverHost.host) !== undefined;
          }),
        ),
      );
      if (!served) {
        out.push(
          finding(codes.hostNotFoundInGateway, "Warning", vs, `spec.hosts[${index}]`, `one or more host [${host}] defined in VirtualService ${resourceKey(virtualService)} not found in Gateway ${existing.map(resourceKey).join(", ")}`, `add ${host} to a server's hosts in ${existing.map(resourceKey).join(" or ")}, or fix the VirtualService host`),
        );
      }
    }
  }
  return out;
}

interface DestinationUse {
  destination: Destination;
  field: string;
}

function destinationsOf(virtualService: VirtualService): DestinationUse[] {
  const uses: DestinationUse[] = [];
  (virtualService.spec.http ?? []).forEach((rule, i) => {
    (rule.route ?? []).forEach((route, j) => uses.push({ destination: route.destination, field: `spec.http[${i}].route[${j}].destination` }));
    if (rule.mirror) uses.push({ destination: rule.mirror, field: `spec.http[${i}].mirror` });
    (rule.mirrors ?? []).forEach((mirror, j) => uses.push({ destination: mirror.destination, field: `spec.http[${i}].mirrors[${j}].destination` }));
  });
  (virtualService.spec.tcp ?? []).forEach((rule, i) => (rule.route ?? []).forEach((route, j) => uses.push({ destination: route.destination, field: `spec.tcp[${i}].route[${j}].destination` })));
  (virtualService.spec.tls ?? []).forEach((rule, i) => (rule.route ?? []).forEach((route, j) => uses.push({ destination: route.destination, field: `spec.tls[${i}].route[${j}].destination` })));
  return uses;
}

/** IST0101 for a Service, port or subset that does not exist; IST0112 when the port is ambiguous. */
function destinations(snapshot: Snapshot): AnalysisFinding[] {
  const out: AnalysisFinding[] = [];
  for (const virtualService of snapshot.virtualServices) {
    const vs = withKind("VirtualService", virtualService);
    const ns = namespaceOf(virtualService);
    for (const { destination, field } of destinationsOf(virtualService)) {
      const fqdn = resolveShortHost(destination.host, ns);
      // Only cluster-local names can be checked: other hosts may be ServiceEntries or DNS names.
      if (!fqdn.endsWith(clusterDomainSuffix) || fqdn.startsWith("*")) continue;
      const service = snapshot.serviceForHost(fqdn);
      if (!service) {
        out.push(finding(codes.referencedResourceNotFound, "Error", vs, `${field}.host`, `Referenced host not found: "${destination.host}"`, `create Service ${fqdn.slice(0, -clusterDomainSuffix.length).split(".").reverse().join("/")} or fix the host (requests to it get 503)`));
        continue;
      }
      const ports = service.spec?.ports ?? [];
      const port = destination.port?.number;
      if (port !== undefined && !ports.some((p) => p.port === port)) {
        out.push(finding(codes.referencedResourceNotFound, "Error", vs, `${field}.port.number`, `Referenced host:port not found: "${destination.host}:${port}"`, `use one of the Service's ports (${ports.map((p) => p.port).join(", ") || "it has none"})`));
      } else if (port === undefined && ports.length > 1) {
        out.push(finding(codes.destinationPortSelectorRequired, "Error", vs, `${field}.port`, `This VirtualService routes to a service with more than one port, but does not specify which to use`, `set port.number to one of ${ports.map((p) => p.port).join(", ")}`));
      }
      if (destination.subset !== undefined) {
        const defined = snapshot.destinationRulesForHost(fqdn).some((rule) => (rule.spec.subsets ?? []).some((subset) => subset.name === destination.subset));
        if (!defined) {
          out.push(finding(codes.referencedResourceNotFound, "Error", vs, `${field}.subset`, `Referenced host+subset in destinationrule not found: "${destination.host}+${destination.subset}"`, `define subset ${destination.subset} in a DestinationRule for ${fqdn}, or remove the subset`));
        }
      }
    }
  }
  return out;
}

/** IST0101 for a missing credential Secret, IST0161 for one that is there but unusable. */
function credentials(snapshot: Snapshot, options: AnalysisOptions): AnalysisFinding[] {
  const out: AnalysisFinding[] = [];
  for (const gateway of snapshot.gateways) {
    const gw = withKind("Gateway", gateway);
    (gateway.spec.servers ?? []).forEach((server, index) => {
      const tls = server.tls;
      const mode = tls?.mode ?? "SIMPLE";
      if (!tls?.credentialName || mode === "PASSTHROUGH" || mode === "AUTO_PASSTHROUGH" || mode === "ISTIO_MUTUAL") return;
      const field = `spec.servers[${index}].tls.credentialName`;
      const result = resolveCredential({
        snapshot,
        credentialName: tls.credentialName,
        workloadNamespace: options.gatewayNamespace,
        resourceNamespace: namespaceOf(gateway),
        needCertificate: true,
        needCa: mode === "MUTUAL" || mode === "OPTIONAL_MUTUAL",
        subject: { kind: "Gateway", namespace: namespaceOf(gateway), name: gateway.metadata.name, field },
      });
      for (const diagnostic of result.diagnostics) {
        if (diagnostic.severity !== "error") continue;
        const missing = /not found/.test(diagnostic.message);
        out.push(
          missing
            ? finding(codes.referencedResourceNotFound, "Error", gw, field, `Referenced credential not found: "${tls.credentialName}": ${diagnostic.message}`, `kubectl create -n ${options.gatewayNamespace} secret tls ${tls.credentialName} --cert=server.pem --key=server.key`)
            : finding(codes.invalidGatewayCredential, "Error", gw, field, `The credential provided for the Gateway is invalid: ${diagnostic.message}`, `replace Secret ${tls.credentialName} with a valid certificate and matching key`),
        );
      }
    });
  }
  return out;
}

/** PF0101: two VirtualServices bound to one Gateway claim the same host (only the oldest one's rules serve it). IST0109 for the mesh. */
function duplicateHosts(snapshot: Snapshot): AnalysisFinding[] {
  const out: AnalysisFinding[] = [];
  const claims = new Map<string, VirtualService[]>();
  for (const virtualService of snapshot.virtualServices) {
    const ns = namespaceOf(virtualService);
    const refs = virtualService.spec.gateways === undefined || virtualService.spec.gateways.length === 0 ? ["mesh"] : virtualService.spec.gateways.map((ref) => (ref === "mesh" ? "mesh" : gatewayRefs({ ...virtualService, spec: { ...virtualService.spec, gateways: [ref] } })[0] ?? ref));
    for (const ref of new Set(refs)) {
      for (const host of new Set((virtualService.spec.hosts ?? []).map((h) => resolveShortHost(h, ns).toLowerCase()))) {
        const key = `${ref}\u0000${host}`;
        claims.set(key, [...(claims.get(key) ?? []), virtualService]);
      }
    }
  }
  for (const [key, list] of claims) {
    if (list.length < 2) continue;
    const [ref, host] = key.split("\u0000") as [string, string];
    const names = list.map(resourceKey).join(", ");
    for (const virtualService of list) {
      const vs = withKind("VirtualService", virtualService);
      out.push(
        ref === "mesh"
          ? finding(codes.conflictingMeshGatewayVirtualServiceHosts, "Error", vs, "spec.hosts", `The VirtualServices ${names} associated with mesh gateway define the same host ${host} which can lead to undefined behavior`, "merge them into one VirtualService per host")
          : finding(codes.conflictingGatewayVirtualServiceHosts, "Warning", vs, "spec.hosts", `The VirtualServices ${names} bound to Gateway ${ref} define the same host ${host}: their rules are merged in creation order, so the oldest one's catch-all hides the others'`, "merge them into one VirtualService per host and Gateway"),
      );
    }
  }
  return out;
}

/** Matches every request: no match block, an empty match, or only `uri: {prefix: "/"}`. */
function isCatchAll(match: HTTPMatchRequest): boolean {
  const { name: _name, uri, ...rest } = match;
  if (Object.values(rest).some((value) => value !== undefined)) return false;
  if (uri === undefined) return true;
  return Object.keys(uri).length === 1 && "prefix" in uri && uri.prefix === "/";
}

/** JSON with object keys sorted at every level, so equal matches written in another order compare equal. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).filter(([, field]) => field !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, field]) => `${JSON.stringify(key)}:${canonical(field)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function matchKey(match: HTTPMatchRequest): string {
  const { name: _name, ...rest } = match;
  return canonical(rest);
}

/** IST0130: a rule after a catch-all, or whose every match an earlier rule already took. */
function unreachableRules(snapshot: Snapshot): AnalysisFinding[] {
  const out: AnalysisFinding[] = [];
  for (const virtualService of snapshot.virtualServices) {
    const vs = withKind("VirtualService", virtualService);
    const seen = new Set<string>();
    let catchAll: number | undefined;
    (virtualService.spec.http ?? []).forEach((rule, index) => {
      const matches = rule.match ?? [];
      if (catchAll !== undefined) {
        out.push(finding(codes.unreachableRule, "Warning", vs, `spec.http[${index}]`, `VirtualService rule #${index}${rule.name ? ` (${rule.name})` : ""} not used (rule #${catchAll} matches every request first)`, `move rule #${catchAll} (the catch-all) to the end, after the more specific rules`));
        return;
      }
      if (matches.length > 0 && matches.every((match) => seen.has(matchKey(match)))) {
        out.push(finding(codes.unreachableRule, "Warning", vs, `spec.http[${index}].match`, `VirtualService rule #${index}${rule.name ? ` (${rule.name})` : ""} not used (an earlier rule has the same match)`, "remove the rule or change its match"));
      }
      for (const match of matches) seen.add(matchKey(match));
      if (matches.length === 0 || matches.some(isCatchAll)) catchAll = index;
    });
  }
  return out;
}

/** IST0162: a Gateway server port that no port of the Service in front of its workload exposes. */
function gatewayServicePorts(snapshot: Snapshot, services: readonly Service[]): AnalysisFinding[] {
  const out: AnalysisFinding[] = [];
  for (const gateway of snapshot.gateways) {
    const selector = gateway.spec.selector ?? {};
    if (Object.keys(selector).length === 0) continue;
    // The Services in front of the gateway pods: their selector picks the pods the Gateway selects.
    const fronting = services.filter((service) => {
      const serviceSelector = service.spec?.selector ?? {};
      return Object.keys(serviceSelector).length > 0 && Object.entries(serviceSelector).every(([key, value]) => selector[key] === value);
    });
    if (fronting.length === 0) continue;
    const gw = withKind("Gateway", gateway);
    (gateway.spec.servers ?? []).forEach((server, index) => {
      if (fronting.some((service) => (service.spec?.ports ?? []).some((port) => port.port === server.port.number))) return;
      const names = fronting.map((service) => `${service.metadata.namespace ?? "default"}/${service.metadata.name}`).join(", ");
      out.push(
        finding(codes.gatewayPortNotDefinedOnService, "Warning", gw, `spec.servers[${index}].port.number`, `The gateway is listening on a port (${server.port.number}) that is not defined on the Service ${names}`, `add port ${server.port.number} to ${names} (the operator adds it to the ingress Service it manages; elsewhere traffic on that port never reaches the gateway)`),
      );
    });
  }
  return out;
}
