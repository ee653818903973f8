import type { GatewaySpec, Server, ServerTLSSettings } from "../types.js";
import { checkLabels, checkPortNumber } from "./common.js";
import type { Findings } from "./findings.js";
import { at } from "./findings.js";
import { gatewayHostProblem, isIP } from "./names.js";
import { envoyCipherSuites } from "../../envoy/cipher-suites.js";

/** Protocols Istio parses on a Gateway port (case-insensitive). */
const PROTOCOLS = new Set(["HTTP", "HTTPS", "GRPC", "GRPC-WEB", "HTTP2", "HTTP_PROXY", "MONGO", "REDIS", "MYSQL", "TCP", "TLS", "UDP"]);
const TLS_PROTOCOLS = new Set(["HTTPS", "TLS"]);
const HTTP_PROTOCOLS = new Set(["HTTP", "HTTP2", "GRPC", "GRPC-WEB", "HTTP_PROXY"]);

/** CBC-mode and 3DES suites: accepted but weak. */
const WEAK_CIPHER = /-SHA$|DES-CBC3/;

export function validateGatewaySpec(spec: GatewaySpec, out: Findings): void {
  const servers = spec.servers ?? [];
  if (servers.length === 0) out.error("spec.servers", "a Gateway needs at least one server: add an entry with port and hosts");
  checkLabels(out, "spec.selector", spec.selector);
  const portNames = new Map<string, number>();
  const serverNames = new Map<string, number>();
  for (const [index, server] of servers.entries()) {
    const path = at("spec.servers", index);
    validateServer(server, path, out);
    const portName = server.port?.name;
    if (portName) {
      const first = portNames.get(portName);
      if (first !== undefined) {
        out.error(`${path}.port.name`, `port name "${portName}" is already used by spec.servers[${first}]: port names must be unique within a Gateway`);
      } else portNames.set(portName, index);
    }
    if (server.name) {
      const first = serverNames.get(server.name);
      if (first !== undefined) out.error(`${path}.name`, `server name "${server.name}" is already used by spec.servers[${first}]: server names must be unique`);
      else serverNames.set(server.name, index);
    }
  }
}

function validateServer(server: Server, path: string, out: Findings): void {
  const hosts = server.hosts ?? [];
  if (hosts.length === 0) out.error(`${path}.hosts`, 'a server needs at least one host: use "*" to accept every host');
  for (const [index, host] of hosts.entries()) {
    const problem = gatewayHostProblem(host);
    if (problem) out.error(at(`${path}.hosts`, index), problem);
  }
  const protocol = validatePort(server, `${path}.port`, out);
  if (server.bind !== undefined && server.bind !== "" && !isIP(server.bind) && !server.bind.startsWith("unix://")) {
    out.error(`${path}.bind`, `bind "${server.bind}" must be an IP address or a unix:// socket path`);
  }
  validateServerTLS(server.tls, protocol, `${path}.tls`, out);
}

/** Returns the upper-cased protocol when it is valid, so TLS rules can depend on it. */
function validatePort(server: Server, path: string, out: Findings): string | undefined {
  const port = server.port;
  if (!port) {
    out.error(path, "a server needs a port: set number, name and protocol");
    return undefined;
  }
  if (port.number === undefined) out.error(`${path}.number`, "port number is required (1..65535)");
  else checkPortNumber(out, `${path}.number`, port.number);
  if (!port.name) out.error(`${path}.name`, 'port name is required, e.g. "http" or "https"');
  if (port.targetPort !== undefined) {
    out.error(`${path}.targetPort`, "targetPort is not allowed on a Gateway: the listener port comes from the gateway Service; remove targetPort");
  }
  if (!port.protocol) {
    out.error(`${path}.protocol`, "port protocol is required: HTTP, HTTPS, GRPC, HTTP2, MONGO, TCP or TLS");
    return undefined;
  }
  const protocol = port.protocol.toUpperCase();
  if (!PROTOCOLS.has(protocol)) {
    out.error(`${path}.protocol`, `invalid protocol "${port.protocol}": supported protocols are HTTP, HTTPS, GRPC, GRPC-WEB, HTTP2, MONGO, REDIS, MYSQL, TCP, TLS`);
    return undefined;
  }
  return protocol;
}

function validateServerTLS(tls: ServerTLSSettings | undefined, protocol: string | undefined, path: string, out: Findings): void {
  if (protocol && TLS_PROTOCOLS.has(protocol) && !tls) {
    out.error(path, `a server with protocol ${protocol} needs tls settings: set tls.mode (e.g. SIMPLE with credentialName)`);
    return;
  }
  if (!tls) return;
  if (protocol && !TLS_PROTOCOLS.has(protocol)) {
    const onlyRedirect = Object.keys(tls).every((field) => field === "httpsRedirect");
    if (!HTTP_PROTOCOLS.has(protocol)) {
      out.error(path, `a server with protocol ${protocol} cannot have tls settings: use protocol HTTPS or TLS, or remove tls`);
      return;
    }
    if (!onlyRedirect) {
      out.error(path, `a plain-text ${protocol} server may only set tls.httpsRedirect: use protocol HTTPS to terminate TLS`);
      return;
    }
  }
  if (tls.httpsRedirect && protocol && protocol !== "HTTP") {
    out.warning(`${path}.httpsRedirect`, `httpsRedirect only has an effect on HTTP servers, not ${protocol}: remove it`);
  }
  validateTLSMode(tls, protocol, path, out);
  validateCiphers(tls.cipherSuites, `${path}.cipherSuites`, out);
  if (tls.minProtocolVersion && tls.maxProtocolVersion && tls.minProtocolVersion !== "TLS_AUTO" && tls.maxProtocolVersion !== "TLS_AUTO") {
    if (tls.minProtocolVersion > tls.maxProtocolVersion) {
      out.error(`${path}.minProtocolVersion`, `minProtocolVersion ${tls.minProtocolVersion} is higher than maxProtocolVersion ${tls.maxProtocolVersion}`);
    }
  }
}

function validateTLSMode(tls: ServerTLSSettings, protocol: string | undefined, path: string, out: Findings): void {
  const mode = tls.mode ?? (tls.httpsRedirect && protocol === "HTTP" ? undefined : "PASSTHROUGH");
  if (mode === undefined) return;
  const credentialSources = [
    tls.credentialName ? "credentialName" : undefined,
    tls.credentialNames?.length ? "credentialNames" : undefined,
    tls.tlsCertificates?.length ? "tlsCertificates" : undefined,
    tls.serverCertificate || tls.privateKey ? "serverCertificate/privateKey" : undefined,
  ].filter((s): s is string => s !== undefined);

  if (mode === "ISTIO_MUTUAL") {
    for (const field of ["credentialName", "credentialNames", "tlsCertificates", "serverCertificate", "privateKey", "caCertificates"] as const) {
      const value = tls[field];
      if (value !== undefined && value !== "" && !(Array.isArray(value) && value.length === 0)) {
        out.error(`${path}.${field}`, `ISTIO_MUTUAL uses the proxy's own mesh certificate and cannot have ${field}: remove it or use mode MUTUAL`);
      }
    }
    return;
  }
  if (mode !== "SIMPLE" && mode !== "MUTUAL" && mode !== "OPTIONAL_MUTUAL") return;
  if (credentialSources.length > 1) {
    out.error(path, `only one certificate source may be set, found ${credentialSources.join(" and ")}: keep one`);
    return;
  }
  const fromSecret = Boolean(tls.credentialName || tls.credentialNames?.length || tls.tlsCertificates?.length);
  if (fromSecret) return;
  if (!tls.serverCertificate) out.error(`${path}.serverCertificate`, `${mode} TLS requires a server certificate: set credentialName (a Secret) or serverCertificate and privateKey`);
  if (!tls.privateKey) out.error(`${path}.privateKey`, `${mode} TLS requires a private key: set credentialName (a Secret) or serverCertificate and privateKey`);
  if (mode !== "SIMPLE" && !tls.caCertificates) {
    out.error(`${path}.caCertificates`, `${mode} TLS requires a CA bundle to verify clients: set caCertificates, or use credentialName with a ca.crt key`);
  }
}

function validateCiphers(ciphers: readonly string[] | undefined, path: string, out: Findings): void {
  if (!ciphers) return;
  const seen = new Set<string>();
  for (const [index, cipher] of ciphers.entries()) {
    const itemPath = at(path, index);
    if (seen.has(cipher)) out.warning(itemPath, `duplicate cipher suite "${cipher}" is ignored: list it once`);
    seen.add(cipher);
    if (!envoyCipherSuites.has(cipher)) out.warning(itemPath, `unsupported cipher suite "${cipher}" is ignored: use an Envoy cipher name such as ECDHE-RSA-AES128-GCM-SHA256`);
    else if (WEAK_CIPHER.test(cipher)) out.warning(itemPath, `cipher suite "${cipher}" is weak (CBC or 3DES): prefer an AEAD suite such as ECDHE-RSA-AES128-GCM-SHA256`);
  }
}
