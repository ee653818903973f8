/**
 * Status conditions for Gateways, VirtualServices and DestinationRules, computed from what the
 * compiles returned (their diagnostics, which Gateways each proxy selected, which clusters each
 * proxy got, whether its config was published). Pure: no I/O, no clock; the writer
 * (status-writer.ts) adds lastTransitionTime and talks to the API. Conditions and reasons are
 * listed in docs/status.md.
 */
import { gatewayRefs, namespaceOf, resourceKey, selectsProxy } from "../compile/binding.js";
import type { Diagnostic } from "../compile/output.js";
import type { GatewayProxy } from "../model/proxy.js";
import type { Snapshot } from "../model/snapshot.js";

export type StatusKind = "Gateway" | "VirtualService" | "DestinationRule";
export type ConditionType = "Accepted" | "ResolvedRefs" | "Programmed";

export interface Condition {
  type: ConditionType;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  observedGeneration: number;
}

export interface DesiredStatus {
  kind: StatusKind;
  namespace: string;
  name: string;
  generation: number;
  conditions: Condition[];
}

/** What one proxy's latest reconcile produced. */
export interface ProxyOutcome {
  /** `namespace/name` of the gateway Deployment. */
  proxy: string;
  /** `namespace/name` of the Gateways whose selector picked this proxy. */
  gateways: readonly string[];
  diagnostics: readonly Diagnostic[];
  /** FQDNs of the clusters the compiled config holds. */
  clusterHosts: ReadonlySet<string>;
  /** Undefined when published (or already up to date), else why not. */
  refusal?: string;
  /** Gateway server ports the exposing Service could not get (service-ports.ts). */
  portProblems?: readonly { gateway: string; port: number; message: string }[];
  /** What this proxy's Envoys reject over ADS now (NACKed types, Envoy's message). */
  rejected?: readonly { type: string; message: string }[];
}

export interface InvalidResource {
  kind: StatusKind;
  namespace: string;
  name: string;
  generation: number;
  problem: string;
}

/** A Service's identity, for "did you mean" hints. */
export interface ServiceName {
  metadata: { name: string; namespace?: string };
}

const MAX_MESSAGE = 1024;

function clip(message: string): string {
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message;
}

function condition(type: ConditionType, ok: boolean, reason: string, message: string, generation: number): Condition {
  return { type, status: ok ? "True" : "False", reason, message: clip(message), observedGeneration: generation };
}

function joinMessages(diagnostics: readonly Diagnostic[]): string {
  return [...new Set(diagnostics.map((d) => `${d.field ? `${d.field}: ` : ""}${d.message}`))].join("; ");
}

/** Levenshtein distance, for "did you mean" hints on short names. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] ?? 0;
      row[j] = Math.min((row[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] ?? 0;
}

const isCredential = (d: Diagnostic): boolean => /credentialName|tls\b|Secret "/.test(`${d.field} ${d.message}`) && d.severity === "error";
const isSkippedServer = (d: Diagnostic): boolean => /skipping server|server skipped/.test(d.message);
const isMissingSubset = (d: Diagnostic): boolean => d.field.endsWith(".subset") && / not found/.test(d.message);
const isMissingService = (d: Diagnostic): boolean => / not found/.test(d.message) && /service /.test(d.message) && !isMissingSubset(d);

/**
 * A clearer message for "service X not found": the host as written, the namespace it was looked
 * up in, and a near miss among that namespace's Services.
 */
function missingServiceMessage(services: readonly ServiceName[], resource: { kind: string; namespace: string; name: string }, d: Diagnostic): string {
  const match = /service (\S+?);? not found|service (\S+) not found/.exec(d.message);
  const fqdn = (match?.[1] ?? match?.[2] ?? "").replace(/;$/, "");
  const parts = fqdn.split(".");
  const short = parts[0] ?? fqdn;
  const namespace = parts.length >= 2 && fqdn.endsWith(".svc.cluster.local") ? (parts[1] ?? resource.namespace) : resource.namespace;
  const candidates = services.filter((service) => (service.metadata.namespace ?? "default") === namespace).map((service) => service.metadata.name);
  const nearest = candidates
    .map((candidate) => ({ candidate, d: distance(short, candidate) }))
    .filter((entry) => entry.d > 0 && entry.d <= Math.max(2, Math.floor(short.length / 3)))
    .sort((a, b) => a.d - b.d || (a.candidate < b.candidate ? -1 : 1))[0];
  const hint = nearest ? ` (did you mean '${nearest.candidate}'?)` : "";
  return `${resource.kind} ${resource.namespace}/${resource.name}: ${d.field}: destination host '${short}' has no Service in namespace ${namespace}${hint}`;
}

function proxyList(outcomes: readonly ProxyOutcome[]): string {
  return outcomes.map((outcome) => outcome.proxy).join(", ");
}

/**
 * Desired conditions for every Gateway, VirtualService and DestinationRule in the snapshot,
 * plus the ones left out of it because they are invalid.
 */
export function computeStatuses(
  snapshot: Snapshot,
  outcomes: readonly ProxyOutcome[],
  invalid: readonly InvalidResource[] = [],
  services: readonly ServiceName[] = [],
  /** Credential problems found with a clock (credentials.ts): `error`s make ResolvedRefs False. */
  credentialErrors: readonly { gateway: string; message: string }[] = [],
  /**
   * The gateway proxies known now. A Gateway that selects one of them but is in no outcome yet was
   * applied after that proxy's last compile: its status (and that of VirtualServices bound only
   * through such Gateways) waits for the compile, which queues another status sync, instead of
   * flashing NoMatchingProxy.
   */
  knownProxies: readonly GatewayProxy[] = [],
): DesiredStatus[] {
  const out: DesiredStatus[] = [];
  const compiledGateways = new Set(outcomes.flatMap((outcome) => outcome.gateways));
  const pendingGateways = new Set(
    snapshot.gateways.filter((gateway) => !compiledGateways.has(resourceKey(gateway)) && knownProxies.some((proxy) => selectsProxy(gateway, proxy))).map(resourceKey),
  );
  const diagnosticsFor = new Map<string, Diagnostic[]>();
  for (const outcome of outcomes) {
    for (const d of outcome.diagnostics) {
      const key = `${d.kind}/${d.namespace}/${d.name}`;
      const list = diagnosticsFor.get(key) ?? [];
      if (!list.some((known) => known.field === d.field && known.message === d.message)) list.push(d);
      diagnosticsFor.set(key, list);
    }
  }
  const generationOf = (resource: { metadata: { generation?: number } }): number => resource.metadata.generation ?? 0;
  const proxiesOf = (gatewayKey: string): ProxyOutcome[] => outcomes.filter((outcome) => outcome.gateways.includes(gatewayKey));
  const programmed = (proxies: readonly ProxyOutcome[], generation: number, what: string): Condition => {
    const published = proxies.filter((outcome) => outcome.refusal === undefined);
    const accepted = published.filter((outcome) => (outcome.rejected ?? []).length === 0);
    if (accepted.length > 0) return condition("Programmed", true, "Programmed", `published to gateway proxy ${proxyList(accepted)}`, generation);
    if (published.length > 0) {
      // Envoy NACKed what was pushed over ADS: it keeps serving its last accepted config.
      const rejections = published.flatMap((outcome) => (outcome.rejected ?? []).map((r) => `${outcome.proxy} ${r.type}: ${r.message}`));
      return condition("Programmed", false, "ProxyRejected", `Envoy rejected the config pushed to ${proxyList(published)} and keeps serving its previous one: ${[...new Set(rejections)].join("; ")}`, generation);
    }
    if (proxies.length > 0) {
      return condition("Programmed", false, "PublishRefused", `not published to ${proxyList(proxies)}; the last good config stays: ${proxies.map((p) => p.refusal).join("; ")}`, generation);
    }
    return condition("Programmed", false, "NoMatchingProxy", what, generation);
  };

  for (const gateway of snapshot.gateways) {
    const key = resourceKey(gateway);
    if (pendingGateways.has(key)) continue;
    const namespace = namespaceOf(gateway);
    const name = gateway.metadata.name;
    const generation = generationOf(gateway);
    const diagnostics = diagnosticsFor.get(`Gateway/${namespace}/${name}`) ?? [];
    const proxies = proxiesOf(key);
    const selector = JSON.stringify(gateway.spec.selector ?? {});
    const conditions: Condition[] = [];
    const skipped = diagnostics.filter(isSkippedServer);
    if (proxies.length === 0) {
      conditions.push(condition("Accepted", false, "NoMatchingProxy", `selector ${selector} matches no gateway proxy (a Deployment labelled pilotfish.io/gateway=true whose pod labels include it); fix spec.selector or label the gateway Deployment`, generation));
    } else if (skipped.some((d) => /duplicate host/.test(d.message))) {
      conditions.push(condition("Accepted", false, "DuplicateHost", `${joinMessages(skipped)} (another Gateway already serves these hosts on this port with TLS; the earlier one keeps them: rename the hosts or remove the server)`, generation));
    } else if (skipped.length > 0) {
      conditions.push(condition("Accepted", false, /conflicts with/.test(joinMessages(skipped)) ? "PortConflict" : "ServerSkipped", joinMessages(skipped), generation));
    } else {
      conditions.push(condition("Accepted", true, "Accepted", `selects gateway proxy ${proxyList(proxies)}`, generation));
    }
    const credentials = diagnostics.filter(isCredential);
    const checked = [...new Set(credentialErrors.filter((finding) => finding.gateway === key).map((finding) => finding.message))];
    conditions.push(
      credentials.length > 0
        ? condition("ResolvedRefs", false, "InvalidCredential", `${[joinMessages(credentials), ...checked].join("; ")}; the server is not served until the Secret is fixed`, generation)
        : checked.length > 0
          ? condition("ResolvedRefs", false, "InvalidCredential", checked.join("; "), generation)
          : condition("ResolvedRefs", true, "ResolvedRefs", "all credentialNames resolved", generation),
    );
    const portProblems = proxies.flatMap((outcome) => outcome.portProblems ?? []).filter((problem) => problem.gateway === key);
    const programmedCondition = programmed(proxies, generation, `no gateway proxy selected by ${selector}; nothing published`);
    conditions.push(
      portProblems.length > 0 && programmedCondition.status === "True"
        ? condition("Programmed", false, "ServicePortRejected", `published to gateway proxy ${proxyList(proxies)}, but not exposed: ${[...new Set(portProblems.map((p) => p.message))].join("; ")}`, generation)
        : programmedCondition,
    );
    out.push({ kind: "Gateway", namespace, name, generation, conditions });
  }

  const knownGateways = new Set(snapshot.gateways.map(resourceKey));
  for (const virtualService of snapshot.virtualServices) {
    const namespace = namespaceOf(virtualService);
    const name = virtualService.metadata.name;
    const generation = generationOf(virtualService);
    const id = { kind: "VirtualService", namespace, name };
    const diagnostics = diagnosticsFor.get(`VirtualService/${namespace}/${name}`) ?? [];
    const refs = gatewayRefs(virtualService);
    if (refs.length > 0 && refs.every((ref) => pendingGateways.has(ref))) continue;
    const existing = refs.filter((ref) => knownGateways.has(ref));
    const missing = refs.filter((ref) => !knownGateways.has(ref));
    const conditions: Condition[] = [];
    if (refs.length === 0) {
      conditions.push(condition("Accepted", true, "MeshOnly", "bound to the mesh (sidecars) only; gateway proxies do not serve it", generation));
    } else if (existing.length === 0) {
      conditions.push(condition("Accepted", false, "GatewayNotFound", `${missing.map((ref) => `gateway ${ref} not found`).join("; ")}: create the Gateway or fix spec.gateways (short names mean namespace ${namespace})`, generation));
    } else {
      conditions.push(condition("Accepted", true, "Accepted", `bound to gateway ${existing.join(", ")}`, generation));
    }
    const missingServices = diagnostics.filter(isMissingService);
    const credentials = diagnostics.filter(isCredential);
    if (missing.length > 0 && existing.length > 0) {
      conditions.push(condition("ResolvedRefs", false, "GatewayNotFound", missing.map((ref) => `gateway ${ref} not found`).join("; "), generation));
    } else if (missingServices.length > 0) {
      conditions.push(condition("ResolvedRefs", false, "BackendNotFound", [...new Set(missingServices.map((d) => missingServiceMessage(services, id, d)))].join("; "), generation));
    } else if (diagnostics.some(isMissingSubset)) {
      const subsets = diagnostics.filter(isMissingSubset).map((d) => `VirtualService ${namespace}/${name}: ${d.field}: ${d.message}`);
      conditions.push(condition("ResolvedRefs", false, "BackendNotFound", [...new Set(subsets)].join("; "), generation));
    } else if (credentials.length > 0) {
      conditions.push(condition("ResolvedRefs", false, "InvalidCredential", joinMessages(credentials), generation));
    } else {
      conditions.push(condition("ResolvedRefs", true, "ResolvedRefs", "all destinations and gateways resolved", generation));
    }
    const proxies = outcomes.filter((outcome) => existing.some((ref) => outcome.gateways.includes(ref)));
    conditions.push(
      refs.length === 0
        ? condition("Programmed", false, "MeshOnly", "not bound to a Gateway; sidecars compile it", generation)
        : programmed(proxies, generation, `no gateway proxy serves gateway ${refs.join(", ")}; nothing published`),
    );
    out.push({ kind: "VirtualService", namespace, name, generation, conditions });
  }

  for (const rule of snapshot.destinationRules) {
    const namespace = namespaceOf(rule);
    const name = rule.metadata.name;
    const generation = generationOf(rule);
    const diagnostics = diagnosticsFor.get(`DestinationRule/${namespace}/${name}`) ?? [];
    const credentials = diagnostics.filter(isCredential);
    const errors = diagnostics.filter((d) => d.severity === "error" && !isCredential(d));
    const conditions: Condition[] = [condition("Accepted", errors.length === 0, errors.length === 0 ? "Accepted" : "Invalid", errors.length === 0 ? "valid" : joinMessages(errors), generation)];
    conditions.push(
      credentials.length > 0
        ? condition("ResolvedRefs", false, "InvalidCredential", joinMessages(credentials), generation)
        : condition("ResolvedRefs", true, "ResolvedRefs", "all references resolved", generation),
    );
    const users = outcomes.filter((outcome) => [...outcome.clusterHosts].some((host) => snapshot.destinationRulesForHost(host).includes(rule)));
    conditions.push(programmed(users, generation, `no gateway route sends traffic to ${rule.spec.host}; nothing to apply it to`));
    out.push({ kind: "DestinationRule", namespace, name, generation, conditions });
  }

  for (const resource of invalid) {
    const message = `${resource.kind} ${resource.namespace}/${resource.name} is invalid and ignored: ${resource.problem}`;
    out.push({
      ...resource,
      conditions: [
        condition("Accepted", false, "Invalid", message, resource.generation),
        { type: "ResolvedRefs", status: "Unknown", reason: "Invalid", message: "not checked: the resource is invalid", observedGeneration: resource.generation },
        condition("Programmed", false, "Invalid", "not published: the resource is invalid; the previous version is not served either", resource.generation),
      ],
    });
  }
  return out;
}

/** FQDNs of the outbound clusters in a compiled config (`outbound|port|subset|fqdn`). */
export function clusterHosts(clusterNames: readonly string[]): Set<string> {
  const hosts = new Set<string>();
  for (const name of clusterNames) {
    const parts = name.split("|");
    if (parts[0] === "outbound" && parts[3]) hosts.add(parts[3]);
  }
  return hosts;
}
