import type { EndpointSlice, Pod, Secret, Service } from "./kube.js";
import type { DestinationRule, Gateway, VirtualService } from "./istio.js";

/** The typed inputs a snapshot is built from (what a source has collected). */
export interface SnapshotInputs {
  gateways?: readonly Gateway[];
  virtualServices?: readonly VirtualService[];
  destinationRules?: readonly DestinationRule[];
  services?: readonly Service[];
  endpointSlices?: readonly EndpointSlice[];
  secrets?: readonly Secret[];
  /** Optional: only used for the labels of endpoint addresses (DestinationRule subsets). */
  pods?: readonly Pod[];
}

/**
 * An immutable, indexed view of the inputs. Every resource has its namespace filled in, lists
 * are in Istio's precedence order (oldest creationTimestamp first, then namespace/name), and
 * look-ups are by key so the compiler never scans.
 */
export interface Snapshot {
  readonly gateways: readonly Gateway[];
  readonly virtualServices: readonly VirtualService[];
  readonly destinationRules: readonly DestinationRule[];
  service(namespace: string, name: string): Service | undefined;
  /** A Kubernetes service by its cluster-local FQDN `<name>.<namespace>.svc.cluster.local`. */
  serviceForHost(fqdn: string): Service | undefined;
  /** EndpointSlices labelled `kubernetes.io/service-name: <name>` in the namespace, by name. */
  endpointSlices(namespace: string, serviceName: string): readonly EndpointSlice[];
  /** Labels of the pod with this IP in the namespace, if the source knows its pods. */
  podLabels(namespace: string, ip: string): Readonly<Record<string, string>> | undefined;
  secret(namespace: string, name: string): Secret | undefined;
  /** DestinationRules whose host equals or (wildcard) covers `fqdn`, most specific first. */
  destinationRulesForHost(fqdn: string): readonly DestinationRule[];
}

export const defaultNamespace = "default";
export const clusterDomainSuffix = ".svc.cluster.local";
const serviceNameLabel = "kubernetes.io/service-name";

type Namespaced = { metadata: { name: string; namespace?: string; creationTimestamp?: string } };

function withNamespace<T extends Namespaced>(resource: T): T {
  if (resource.metadata.namespace) return resource;
  return { ...resource, metadata: { ...resource.metadata, namespace: defaultNamespace } };
}

/** Istio's precedence: older first, then by namespace and name (`namespace/name` as one string). */
function prepare<T extends Namespaced>(list: readonly T[] | undefined): readonly T[] {
  // The two keys made once per resource, not once per comparison.
  const keyed = (list ?? []).map(withNamespace).map((resource) => ({
    resource,
    time: resource.metadata.creationTimestamp ?? "",
    name: `${resource.metadata.namespace}/${resource.metadata.name}`,
  }));
  keyed.sort((a, b) => (a.time !== b.time ? (a.time < b.time ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return Object.freeze(keyed.map((entry) => entry.resource));
}

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Resolves a host as written in a resource of `namespace`: short names get the cluster suffix. */
export function resolveShortHost(host: string, namespace: string): string {
  return host.includes(".") || host === "*" ? host : `${host}.${namespace}${clusterDomainSuffix}`;
}

const noRules: readonly DestinationRule[] = Object.freeze([]);

export function buildSnapshot(inputs: SnapshotInputs): Snapshot {
  const gateways = prepare(inputs.gateways);
  const virtualServices = prepare(inputs.virtualServices);
  const destinationRules = prepare(inputs.destinationRules);

  const services = new Map<string, Service>();
  for (const service of prepare(inputs.services)) {
    services.set(key(service.metadata.namespace ?? defaultNamespace, service.metadata.name), service);
  }

  const slices = new Map<string, EndpointSlice[]>();
  const sortedSlices = prepare(inputs.endpointSlices)
    .slice()
    .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  for (const slice of sortedSlices) {
    const serviceName = slice.metadata.labels?.[serviceNameLabel];
    if (!serviceName) continue;
    const k = key(slice.metadata.namespace ?? defaultNamespace, serviceName);
    const list = slices.get(k) ?? [];
    list.push(slice);
    slices.set(k, list);
  }

  const secrets = new Map<string, Secret>();
  for (const secret of prepare(inputs.secrets)) {
    secrets.set(key(secret.metadata.namespace ?? defaultNamespace, secret.metadata.name), secret);
  }

  const podLabelsByIp = new Map<string, Record<string, string>>();
  for (const pod of prepare(inputs.pods)) {
    const ips = [pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((entry) => entry.ip)];
    for (const ip of ips) {
      if (ip) podLabelsByIp.set(key(pod.metadata.namespace ?? defaultNamespace, ip), pod.metadata.labels ?? {});
    }
  }

  const rulesByHost = new Map<string, DestinationRule[]>();
  for (const rule of destinationRules) {
    const host = resolveShortHost(rule.spec.host, rule.metadata.namespace ?? defaultNamespace);
    const list = rulesByHost.get(host) ?? [];
    list.push(rule);
    rulesByHost.set(host, list);
  }

  const hasWildcardRules = [...rulesByHost.keys()].some((host) => host.startsWith("*"));
  const rulesForHost = new Map<string, readonly DestinationRule[]>();
  // `<name>.<namespace>.svc.cluster.local` → Service: one Map look-up per destination. Only
  // names and namespaces without dots have such an FQDN (its two labels are name and namespace).
  const servicesByHost = new Map<string, Service>();
  for (const service of services.values()) {
    const { name, namespace = defaultNamespace } = service.metadata;
    if (name && namespace && !name.includes(".") && !namespace.includes(".")) servicesByHost.set(`${name}.${namespace}${clusterDomainSuffix}`, service);
  }

  return Object.freeze({
    gateways,
    virtualServices,
    destinationRules,
    service: (namespace: string, name: string) => services.get(key(namespace, name)),
    serviceForHost: (fqdn: string) => servicesByHost.get(fqdn),
    endpointSlices: (namespace: string, serviceName: string) => slices.get(key(namespace, serviceName)) ?? [],
    podLabels: (namespace: string, ip: string) => podLabelsByIp.get(key(namespace, ip)),
    secret: (namespace: string, name: string) => secrets.get(key(namespace, name)),
    destinationRulesForHost(fqdn: string) {
      // Asked for every route's destination and every routed cluster: answered once per host.
      if (!hasWildcardRules && !rulesByHost.has(fqdn)) return noRules;
      let rules = rulesForHost.get(fqdn);
      if (rules === undefined) {
        const exact = rulesByHost.get(fqdn) ?? [];
        // Wildcard hosts (`*.ns.svc.cluster.local`, `*`): the longest suffix is the most specific.
        const wildcard: DestinationRule[] = [];
        if (hasWildcardRules) {
          const labels = fqdn.split(".");
          for (let i = 1; i <= labels.length; i++) {
            const candidate = i === labels.length ? "*" : `*.${labels.slice(i).join(".")}`;
            wildcard.push(...(rulesByHost.get(candidate) ?? []));
          }
        }
        rules = Object.freeze([...exact, ...wildcard]);
        rulesForHost.set(fqdn, rules);
      }
      return rules;
    },
  });
}
