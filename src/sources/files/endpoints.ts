/**
 * Standalone endpoints: a Service in a config folder may name its backends directly with the
 * annotation `pilotfish.io/endpoints`, which stands in for the EndpointSlices Kubernetes would
 * make from pods. Pure: Service in, EndpointSlices (or problems) out.
 *
 *   pilotfish.io/endpoints: "127.0.0.1:8081, 127.0.0.1:8082"         # a one-port Service
 *   pilotfish.io/endpoints: "http=127.0.0.1:8081 tcp=127.0.0.1:9000"  # port name (or number) = address
 *
 * Entries are separated by commas or whitespace. An entry without `port=` belongs to the
 * Service's only port. Addresses are IPv4 literals: a hostname would need resolving, which the
 * compiler's EDS endpoints cannot express.
 */
import type { EndpointSlice, Service, ServicePort } from "../../model/kube.js";

export const endpointsAnnotation = "pilotfish.io/endpoints";
const serviceNameLabel = "kubernetes.io/service-name";

export interface EndpointsProblem {
  field: string;
  message: string;
}

export type EndpointsResult = { ok: true; slices: EndpointSlice[] } | { ok: false; problem: EndpointsProblem };

const ipv4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const field = `metadata.annotations["${endpointsAnnotation}"]`;

function findPort(ports: readonly ServicePort[], selector: string | undefined): ServicePort | string {
  if (selector === undefined) {
    if (ports.length === 1 && ports[0]) return ports[0];
    return ports.length === 0
      ? "the Service has no ports: add spec.ports"
      : `the Service has ${ports.length} ports: prefix each address with its port's name, e.g. ${ports[0]?.name ?? ports[0]?.port}=127.0.0.1:8080`;
  }
  const found = ports.find((port) => port.name === selector || String(port.port) === selector);
  if (found) return found;
  const known = ports.map((port) => port.name ?? String(port.port)).join(", ");
  return `no Service port named ${selector} (ports: ${known || "none"})`;
}

/** The EndpointSlices the annotation describes (none when the Service has no annotation). */
export function annotatedEndpointSlices(service: Service): EndpointsResult {
  const value = service.metadata.annotations?.[endpointsAnnotation];
  if (value === undefined) return { ok: true, slices: [] };
  const ports = service.spec?.ports ?? [];
  // One slice per (Service port, endpoint port): a slice's ports apply to all its endpoints.
  const groups = new Map<string, { servicePort: ServicePort; port: number; addresses: string[] }>();
  const entries = value.split(/[\s,]+/).filter((entry) => entry !== "");
  if (entries.length === 0) return { ok: false, problem: { field, message: "empty: list host:port addresses, e.g. 127.0.0.1:8080" } };
  for (const entry of entries) {
    const equals = entry.indexOf("=");
    const selector = equals >= 0 ? entry.slice(0, equals) : undefined;
    const address = equals >= 0 ? entry.slice(equals + 1) : entry;
    const colon = address.lastIndexOf(":");
    const host = colon > 0 ? address.slice(0, colon) : "";
    const portText = colon > 0 ? address.slice(colon + 1) : "";
    const port = Number(portText);
    if (!ipv4.test(host) || !/^\d+$/.test(portText) || port < 1 || port > 65535) {
      return { ok: false, problem: { field, message: `${JSON.stringify(entry)} is not an IPv4 address and port: write it as 127.0.0.1:8080` } };
    }
    const servicePort = findPort(ports, selector);
    if (typeof servicePort === "string") return { ok: false, problem: { field, message: `${JSON.stringify(entry)}: ${servicePort}` } };
    const key = `${servicePort.name ?? ""}/${servicePort.port}/${port}`;
    const group = groups.get(key) ?? { servicePort, port, addresses: [] };
    if (!group.addresses.includes(host)) group.addresses.push(host);
    groups.set(key, group);
  }
  const namespace = service.metadata.namespace;
  const slices = [...groups.values()].map(
    (group, index): EndpointSlice => ({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: `${service.metadata.name}-pilotfish-${index}`,
        ...(namespace === undefined ? {} : { namespace }),
        labels: { [serviceNameLabel]: service.metadata.name },
      },
      addressType: "IPv4",
      ports: [{ ...(group.servicePort.name === undefined ? {} : { name: group.servicePort.name }), port: group.port, protocol: group.servicePort.protocol ?? "TCP" }],
      endpoints: group.addresses.map((address) => ({ addresses: [address], conditions: { ready: true } })),
    }),
  );
  return { ok: true, slices };
}
