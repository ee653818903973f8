/**
 * `proxy-status` and `proxy-config` tables, istioctl's columns: pure functions from the
 * operator's /debug/syncz JSON and from Envoy resources (compiled, or read from /config_dump) to
 * rows. Rendering is plain left-aligned columns; the CLI prints them.
 */
import { X509Certificate } from "node:crypto";
import type { EnvoyJson, EnvoyResources } from "../envoy/resources.js";
import { asNumber, asObject, asObjects, asString, asStrings, at } from "./json.js";

export type Row = Record<string, string>;

export interface Table {
  columns: string[];
  rows: Row[];
}

export function renderTable(table: Table): string {
  const widths = table.columns.map((column) => Math.max(column.length, ...table.rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, index) => (index === cells.length - 1 ? cell : cell.padEnd(widths[index] ?? 0)))
      .join("   ")
      .trimEnd();
  return `${[line(table.columns), ...table.rows.map((row) => line(table.columns.map((column) => row[column] ?? "")))].join("\n")}\n`;
}

/** The parts of /debug/syncz proxy-status reads (docs/xds.md). */
export interface SyncStatusJson {
  server?: { instance?: string };
  proxies?: Array<{
    node?: string;
    proxy?: string;
    types?: Record<string, { status?: string; subscribed?: boolean } | undefined>;
    /** The operator pod whose ADS the proxy is connected to (set by the CLI when it read several pods). */
    operator?: string;
  }>;
}

/** "router~10.0.0.5~istio-ingressgateway-5d8f7c9b4-x2kqv.istio-system~…" → "istio-ingressgateway-5d8f7c9b4-x2kqv.istio-system". */
export function proxyName(node: string | undefined, proxy: string | undefined): string {
  const podPart = node?.split("~")[2];
  if (podPart) return podPart;
  if (proxy) {
    const [namespace, name] = proxy.split("/");
    return name ? `${name}.${namespace}` : proxy;
  }
  return node ?? "?";
}

export function proxyStatusTable(status: SyncStatusJson, filter?: string): Table {
  const columns = ["NAME", "CLUSTER", "CDS", "LDS", "EDS", "RDS", "SDS", "ECDS", "ISTIOD", "VERSION"];
  const rows: Row[] = [];
  for (const proxy of status.proxies ?? []) {
    const name = proxyName(proxy.node, proxy.proxy);
    if (filter !== undefined && !matchesProxy(filter, name, proxy.proxy)) continue;
    const state = (type: string): string => proxy.types?.[type]?.status ?? "NOT SENT";
    rows.push({
      NAME: name,
      CLUSTER: "Kubernetes",
      CDS: state("CDS"),
      LDS: state("LDS"),
      EDS: state("EDS"),
      RDS: state("RDS"),
      SDS: state("SDS"),
      ECDS: "NOT SENT",
      ISTIOD: proxy.operator ?? `pilotfish-${(status.server?.instance ?? "?").slice(0, 8)}`,
      VERSION: "pilotfish",
    });
  }
  rows.sort((a, b) => ((a.NAME ?? "") < (b.NAME ?? "") ? -1 : 1));
  return { columns, rows };
}

/** A PROXY argument names a pod ("pod.ns", "pod"), a Deployment ("deploy/name.ns", "ns/name") or the proxy key. */
export function matchesProxy(filter: string, name: string, key: string | undefined): boolean {
  const wanted = filter.replace(/^(deploy|deployment)\//, "");
  if (wanted === name || name.startsWith(`${wanted}.`) || wanted === key) return true;
  if (key) {
    const [namespace, deployment] = key.split("/");
    if (wanted === `${deployment}.${namespace}` || wanted === deployment) return true;
  }
  return false;
}

function destination(chain: EnvoyJson): string {
  for (const filter of asObjects(chain.filters)) {
    const typed = asObject(filter.typed_config) ?? {};
    const rds = asString(at(typed, "rds", "route_config_name"));
    if (rds !== undefined) return `Route: ${rds}`;
    if (asObject(typed.route_config)) return `Inline Route: ${asString(at(typed, "route_config", "name")) ?? ""}`.trimEnd();
    const cluster = asString(typed.cluster);
    if (cluster !== undefined) return `Cluster: ${cluster}`;
    const weighted = asObjects(at(typed, "weighted_clusters", "clusters"));
    if (weighted.length > 0) return `Clusters: ${weighted.map((c) => `${asString(c.name) ?? "?"} (${asNumber(c.weight) ?? 0})`).join(", ")}`;
  }
  return "-";
}

export function listenersTable(resources: EnvoyResources): Table {
  const rows: Row[] = [];
  for (const listener of resources.listeners) {
    const address = asString(at(listener, "address", "socket_address", "address")) ?? "?";
    const port = String(asNumber(at(listener, "address", "socket_address", "port_value")) ?? "?");
    asObjects(listener.filter_chains).forEach((chain) => {
      const names = asStrings(at(chain, "filter_chain_match", "server_names"));
      const tls = asObject(chain.transport_socket) !== undefined;
      const match = names.length > 0 ? `SNI: ${names.join(",")}` : "ALL";
      rows.push({ ADDRESS: address, PORT: port, MATCH: tls ? `${match} (TLS)` : match, DESTINATION: destination(chain) });
    });
  }
  return { columns: ["ADDRESS", "PORT", "MATCH", "DESTINATION"], rows };
}

function describeRouteMatch(match: EnvoyJson): string {
  const path =
    asString(match.prefix) !== undefined
      ? `${asString(match.prefix)}*`
      : asString(match.path) ?? asString(match.path_separated_prefix) ?? (asString(at(match, "safe_regex", "regex")) !== undefined ? `~${asString(at(match, "safe_regex", "regex"))}` : "?");
  const extras = asObjects(match.headers).length + asObjects(match.query_parameters).length;
  return extras > 0 ? `${path} (+${extras} condition${extras > 1 ? "s" : ""})` : path;
}

/** "/apis/networking.istio.io/v1/namespaces/ns/virtual-service/name" → "name.ns". */
function istioConfigName(value: string | undefined): string {
  if (value === undefined) return "-";
  const match = /\/namespaces\/([^/]+)\/[^/]+\/([^/]+)$/.exec(value);
  return match ? `${match[2]}.${match[1]}` : value;
}

export function routesTable(resources: EnvoyResources): Table {
  const rows: Row[] = [];
  for (const config of resources.routes) {
    for (const virtualHost of asObjects(config.virtual_hosts)) {
      const base = { NAME: config.name, "VHOST NAME": asString(virtualHost.name) ?? "?", DOMAINS: asStrings(virtualHost.domains).join(",") };
      const routes = asObjects(virtualHost.routes);
      if (routes.length === 0) rows.push({ ...base, MATCH: "/*", "VIRTUAL SERVICE": "404" });
      for (const route of routes) {
        rows.push({ ...base, MATCH: describeRouteMatch(asObject(route.match) ?? {}), "VIRTUAL SERVICE": istioConfigName(asString(at(route, "metadata", "filter_metadata", "istio", "config"))) });
      }
    }
  }
  return { columns: ["NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE"], rows };
}

export function clustersTable(resources: EnvoyResources): Table {
  const rows: Row[] = resources.clusters.map((cluster) => {
    const parts = cluster.name.split("|");
    const type = asString(cluster.type) ?? (asObject(cluster.cluster_type) ? "CUSTOM" : "STATIC");
    const rule = istioConfigName(asString(at(cluster, "metadata", "filter_metadata", "istio", "config")));
    if (parts.length === 4) {
      return { "SERVICE FQDN": parts[3] ?? "", PORT: parts[1] ?? "", SUBSET: parts[2] || "-", DIRECTION: parts[0] ?? "", TYPE: type, "DESTINATION RULE": rule === "-" ? "" : rule };
    }
    return { "SERVICE FQDN": cluster.name, PORT: "-", SUBSET: "-", DIRECTION: "-", TYPE: type, "DESTINATION RULE": "" };
  });
  return { columns: ["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION RULE"], rows };
}

export function endpointsTable(resources: EnvoyResources): Table {
  const rows: Row[] = [];
  for (const assignment of resources.endpoints) {
    const cluster = asString(assignment.cluster_name) ?? assignment.name;
    for (const locality of asObjects(assignment.endpoints)) {
      for (const lb of asObjects(locality.lb_endpoints)) {
        const address = asObject(at(lb, "endpoint", "address", "socket_address"));
        rows.push({
          ENDPOINT: `${asString(address?.address) ?? "?"}:${asNumber(address?.port_value) ?? "?"}`,
          STATUS: asString(lb.health_status) ?? "HEALTHY",
          "OUTLIER CHECK": "OK",
          CLUSTER: cluster,
        });
      }
    }
  }
  return { columns: ["ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER"], rows };
}

/** The certificate of a secret (inline PEM; Envoy's dump shows it as inline_bytes base64). */
function certificatePem(secret: EnvoyJson): string | undefined {
  const chain = asObject(at(secret, "tls_certificate", "certificate_chain")) ?? asObject(at(secret, "validation_context", "trusted_ca"));
  if (!chain) return undefined;
  const inline = asString(chain.inline_string);
  if (inline !== undefined) return inline;
  const bytes = asString(chain.inline_bytes);
  return bytes !== undefined ? Buffer.from(bytes, "base64").toString("utf8") : undefined;
}

export function secretsTable(resources: EnvoyResources, now: Date): Table {
  const rows: Row[] = resources.secrets.map((secret) => {
    const type = asObject(secret.tls_certificate) ? "Cert Chain" : asObject(secret.validation_context) ? "CA" : "Other";
    const pem = certificatePem(secret);
    let certificate: X509Certificate | undefined;
    try {
      certificate = pem ? new X509Certificate(pem) : undefined;
    } catch {
      certificate = undefined;
    }
    if (!certificate) return { "RESOURCE NAME": secret.name, TYPE: type, STATUS: "ACTIVE", "VALID CERT": "false", "SERIAL NUMBER": "-", "NOT AFTER": "-", "NOT BEFORE": "-" };
    const notAfter = new Date(certificate.validTo);
    const notBefore = new Date(certificate.validFrom);
    const valid = notBefore <= now && now < notAfter;
    return {
      "RESOURCE NAME": secret.name,
      TYPE: type,
      STATUS: "ACTIVE",
      "VALID CERT": String(valid),
      "SERIAL NUMBER": certificate.serialNumber.toLowerCase(),
      "NOT AFTER": notAfter.toISOString().replace(/\.\d+Z$/, "Z"),
      "NOT BEFORE": notBefore.toISOString().replace(/\.\d+Z$/, "Z"),
    };
  });
  return { columns: ["RESOURCE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE"], rows };
}

