import type { GatewaySpec, Server, ServerTLSSettings } from "../types.js";
import type { Findings } from "./findings.js";
import { at } from "./findings.js";
import { isDnsLabel, isIP, wildcardDomainProblem } from "./names.js";
import { envoyCipherSuites } from "../../envoy/cipher-suites.js";

/*
 * Istio's Gateway rules: pkg/config/validation/validation.go ValidateGateway, validateServer,
 * validateServerPort, validateServerBind, validateTLSOptions; agent/validation.go
 * ValidateNamespaceSlashWildcardHostname and validateSidecarOrGatewayHostnamePart.
 */

/** Protocols Istio parses on a Gateway port (protocol.Parse, case-insensitive). */
const PROTOCOLS = new Set(["HTTP", "HTTPS", "GRPC", "GRPC-WEB", "HTTP2", "HTTP_PROXY", "MONGO", "REDIS", "MYSQL", "TCP", "TLS", "UDP"]);
const TLS_PROTOCOLS = new Set(["HTTPS", "TLS"]);
/** protocol.Instance.IsHTTP. */
const HTTP_PROTOCOLS = new Set(["HTTP", "HTTP2", "GRPC", "GRPC-WEB", "HTTP_PROXY"]);
const UNIX_PREFIX = "unix://";

/** CBC-mode and 3DES suites: accepted but weak (a pilotfish warning). */
const WEAK_CIPHER = /-SHA$|DES-CBC3/;

export function validateGatewaySpec(spec: GatewaySpec, out: Findings): void {
  const servers = spec.servers ?? [];
  if (servers.length === 0) out.error("spec.servers", "a Gateway needs at least one server: add an entry with port and hosts");
  for (const [index, server] of servers.entries()) validateServer(server, at("spec.servers", index), out);
  const portNames = new Map<string, number>();
  for (const [index, server] of servers.entries()) {
    const path = at("spec.servers", index);
    if (!server.port) continue;
    const portName = server.port.name ?? "";
    const first = portNames.get(portName);
    if (first !== undefined) out.error(`${path}.port.name`, `port name "${portName}" is already used by spec.servers[${first}]: port names must be unique within a Gateway`);
    else portNames.set(portName, index);
    if (!HTTP_PROTOCOLS.has((server.port.protocol ?? "").toUpperCase()) && server.tls?.httpsRedirect) {
      out.warning(`${path}.tls.httpsRedirect`, "httpsRedirect only has an effect on HTTP servers: remove it");
    }
  }
}

/** validateSidecarOrGatewayHostnamePart for a Gateway: FQDN or IP, wildcard only as "*" or "*.". */
function gatewayHostnameProblems(hostname: string): string[] {
  const problems: string[] = [];
  if (hostname !== "*" && !hostname.includes(".")) problems.push(`host "${hostname}" is a short name: Gateway hosts must be fully qualified (e.g. "${hostname}.example.com") or "*"`);
  const problem = wildcardDomainProblem(hostname);
  if (problem && !isIP(hostname)) problems.push(problem);
  if (hostname.includes("*") && hostname !== "*" && !hostname.startsWith("*.")) problems.push(`partial wildcard "${hostname}" is not allowed: use "*" or "*.domain"`);
  return problems;
}

/** ValidateNamespaceSlashWildcardHostname(host, isGateway=true). */
function gatewayHostProblems(host: string): string[] {
  const slash = host.indexOf("/");
  if (slash < 0) return gatewayHostnameProblems(host);
  const namespace = host.slice(0, slash);
  const name = host.slice(slash + 1);
  const problems: string[] = [];
  if (namespace === "" || name === "") problems.push(`host "${host}": the namespace and the host name around "/" cannot be empty (use "ns/host", "./host" or "*/host")`);
  if (namespace !== "*" && namespace !== "." && !isDnsLabel(namespace)) problems.push(`host "${host}" has an invalid namespace "${namespace}": use "*", "." or a namespace name`);
  return [...problems, ...gatewayHostnameProblems(name)];
}

function validateServer(server: Server, path: string, out: Findings): void {
  const hosts = server.hosts ?? [];
  if (hosts.length === 0) out.error(`${path}.hosts`, 'a server needs at least one host: use "*" to accept every host');
  for (const [index, host] of hosts.entries()) {
    const [problem] = gatewayHostProblems(host);
    if (problem) out.error(at(`${path}.hosts`, index), problem);
  }
  const protocol = validatePort(server, `${path}.port`, out);
  validateBind(server, `${path}.bind`, out);
  validateTLSOptions(server.tls, `${path}.tls`, out);
  if (protocol === undefined) return;
  if (TLS_PROTOCOLS.has(protocol) && !server.tls) {
    out.error(`${path}.tls`, `a server with protocol ${protocol} needs tls settings: set tls.mode (e.g. SIMPLE with credentialName)`);
  } else if (!TLS_PROTOCOLS.has(protocol) && server.tls) {
    if (HTTP_PROTOCOLS.has(protocol)) {
      // Istio lets a plain-text HTTP server carry PASSTHROUGH/AUTO_PASSTHROUGH tls (e.g. only httpsRedirect) without certificate files.
      const mode = server.tls.mode ?? "PASSTHROUGH";
      const passthrough = mode === "PASSTHROUGH" || mode === "AUTO_PASSTHROUGH";
      if (!passthrough || server.tls.caCertificates || server.tls.privateKey || server.tls.serverCertificate) {
        out.error(`${path}.tls`, `a plain-text ${protocol} server cannot terminate TLS (mode ${mode}, certificates): use protocol HTTPS, or keep only tls.httpsRedirect`);
      }
    } else {
      out.error(`${path}.tls`, `a server with protocol ${protocol} cannot have tls settings: use protocol HTTPS or TLS, or remove tls`);
    }
  }
}

/** validateServerPort. Returns the upper-cased protocol when it parses and the port is valid. */
function validatePort(server: Server, path: string, out: Findings): string | undefined {
  const port = server.port;
  if (!port) {
    out.error(path, "a server needs a port: set number, name and protocol");
    return undefined;
  }
  let valid = true;
  const protocol = (port.protocol ?? "").toUpperCase();
  if (!PROTOCOLS.has(protocol)) {
    out.error(`${path}.protocol`, `invalid protocol "${port.protocol ?? ""}": supported protocols are HTTP, HTTPS, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP, TLS`);
    valid = false;
  }
  const number = port.number ?? 0;
  if (number > 0 || !(server.bind ?? "").startsWith(UNIX_PREFIX)) {
    if (number < 1 || number > 65535) {
      out.error(`${path}.number`, `port number ${number} must be in the range 1..65535`);
      valid = false;
    }
  }
  if (port.targetPort !== undefined && port.targetPort > 0) {
    out.error(`${path}.targetPort`, "targetPort is not allowed on a Gateway: it has no effect (the listener port comes from the gateway Service); remove it");
    valid = false;
  }
  if (!port.name) {
    out.error(`${path}.name`, 'port name is required, e.g. "http" or "https"');
    valid = false;
  }
  return valid ? protocol : undefined;
}

/** validateServerBind and ValidateUnixAddress. */
function validateBind(server: Server, path: string, out: Findings): void {
  const bind = server.bind ?? "";
  if (bind.startsWith(UNIX_PREFIX)) {
    const address = bind.slice(UNIX_PREFIX.length);
    if (address === "") out.error(path, "a unix:// bind needs a socket path");
    else if (!address.startsWith("@") && (!address.startsWith("/") || address.endsWith("/"))) out.error(path, `"${address}" is not an absolute path to a socket file`);
    if (server.port?.number) out.error(`${path}`, "a unix domain socket bind needs port.number 0");
  } else if (bind !== "" && !isIP(bind)) {
    out.error(path, `bind "${bind}" must be an IP address or a unix:// socket path`);
  }
}

/** validateTLSOptions: cipher and protocol problems are warnings, certificate problems errors. */
function validateTLSOptions(tls: ServerTLSSettings | undefined, path: string, out: Findings): void {
  if (!tls) return;
  const mode = tls.mode ?? "PASSTHROUGH";
  if ((tls.minProtocolVersion === "TLSV1_0" || tls.minProtocolVersion === "TLSV1_1") && !tls.cipherSuites?.length) {
    out.warning(`${path}.minProtocolVersion`, "TLS versions below 1.2 need compatible cipherSuites: Envoy's defaults no longer include them");
  }
  validateCiphers(tls.cipherSuites, `${path}.cipherSuites`, out);
  const credentialNames = tls.credentialNames ?? [];
  const tlsCertificates = tls.tlsCertificates ?? [];
  if (mode === "ISTIO_MUTUAL") {
    const present: [keyof ServerTLSSettings, boolean][] = [
      ["serverCertificate", Boolean(tls.serverCertificate)],
      ["privateKey", Boolean(tls.privateKey)],
      ["caCertificates", Boolean(tls.caCertificates)],
      ["tlsCertificates", tlsCertificates.length > 0],
      ["credentialName", Boolean(tls.credentialName)],
      ["credentialNames", credentialNames.length > 0],
    ];
    for (const [field, set] of present) {
      if (set) out.error(`${path}.${field}`, `ISTIO_MUTUAL uses the proxy's own mesh certificate and cannot have ${field}: remove it or use mode MUTUAL`);
    }
    return;
  }
  if (mode === "PASSTHROUGH" || mode === "AUTO_PASSTHROUGH") {
    if (tls.caCrl || tls.serverCertificate || tls.privateKey || tls.caCertificates || tlsCertificates.length || tls.credentialName || credentialNames.length) {
      out.warning(path, `${mode} mode does not terminate TLS: its certificates are ignored`);
    }
  }
  const sources = [
    tls.serverCertificate && tls.privateKey ? "serverCertificate/privateKey" : undefined,
    tls.credentialName ? "credentialName" : undefined,
    credentialNames.length ? "credentialNames" : undefined,
    tlsCertificates.length ? "tlsCertificates" : undefined,
  ].filter((source): source is string => source !== undefined);
  if (sources.length > 1) out.error(path, `only one certificate source may be set, found ${sources.join(" and ")}: keep one`);
  // The CRD's CEL rules (istio.io/api): credentialName/credentialNames and credentialNames/tlsCertificates exclude each other.
  if (tls.credentialName !== undefined && tls.credentialNames !== undefined) out.error(`${path}.credentialNames`, "only one of credentialName or credentialNames can be set");
  if (tls.credentialNames !== undefined && tls.tlsCertificates !== undefined) out.error(`${path}.tlsCertificates`, "only one of credentialNames or tlsCertificates can be set");
  const terminates = mode === "SIMPLE" || mode === "MUTUAL" || mode === "OPTIONAL_MUTUAL";
  if (terminates && (tls.credentialName || credentialNames.length)) return;
  if (terminates) {
    if (mode !== "SIMPLE" && !tls.caCertificates) {
      out.error(`${path}.caCertificates`, `${mode} TLS requires a CA bundle to verify clients: set caCertificates, or use credentialName with a ca.crt key`);
    }
    const certificates = tlsCertificates.length ? tlsCertificates : [{ serverCertificate: tls.serverCertificate, privateKey: tls.privateKey }];
    for (const [index, certificate] of certificates.entries()) {
      const certificatePath = tlsCertificates.length ? at(`${path}.tlsCertificates`, index) : path;
      if (!certificate.serverCertificate) out.error(`${certificatePath}.serverCertificate`, `${mode} TLS requires a server certificate: set credentialName (a Secret) or serverCertificate and privateKey`);
      if (!certificate.privateKey) out.error(`${certificatePath}.privateKey`, `${mode} TLS requires a private key: set credentialName (a Secret) or serverCertificate and privateKey`);
    }
  }
  if (tls.caCrl) {
    if (tls.credentialName) out.error(`${path}.caCrl`, "caCrl is not supported with credentialName: put the CRL in the credential (ca.crl)");
    if (mode === "SIMPLE") out.error(`${path}.caCrl`, "caCrl is not supported with SIMPLE TLS (no client certificates to revoke)");
  }
}

/** security.IsValidCipherSuite: "", "ALL" and operator expressions pass; unknown names are warnings. */
function validateCiphers(ciphers: readonly string[] | undefined, path: string, out: Findings): void {
  if (!ciphers) return;
  const seen = new Set<string>();
  for (const [index, cipher] of ciphers.entries()) {
    const itemPath = at(path, index);
    const known = cipher === "" || cipher === "ALL" || !/^[\p{L}\p{N}]/u.test(cipher) || envoyCipherSuites.has(cipher);
    if (!known) out.warning(itemPath, `unsupported cipher suite "${cipher}" is ignored: use an Envoy cipher name such as ECDHE-RSA-AES128-GCM-SHA256`);
    else if (seen.has(cipher)) out.warning(itemPath, `duplicate cipher suite "${cipher}" is ignored: list it once`);
    else if (WEAK_CIPHER.test(cipher)) out.warning(itemPath, `cipher suite "${cipher}" is weak (CBC or 3DES): prefer an AEAD suite such as ECDHE-RSA-AES128-GCM-SHA256`);
    if (known) seen.add(cipher);
  }
}
