/**
 * TLS credential checks the compiler cannot make (it has no clock) or does not make (chain order,
 * SANs): for every Gateway server naming a `credentialName`, on every proxy the Gateway selects,
 * the Secret found by the compiler's look-up (the workload's namespace, then the Gateway's) is
 * checked. What parsing, key match and a MUTUAL server's CA need is already a compile diagnostic
 * (src/compile/tls/credentials.ts); here: expired, not yet valid, chain order, SANs covering the
 * server's hosts, and the time left (metric, warning under 14 days). Pure: `now` is a parameter.
 */
import { X509Certificate } from "node:crypto";
import { namespaceOf, resourceKey, selectsProxy } from "../compile/binding.js";
import { searchNamespaces } from "../compile/tls/credentials.js";
import type { Secret } from "../model/kube.js";
import type { Snapshot } from "../model/snapshot.js";
import type { GatewayProxy } from "../model/proxy.js";

export const EXPIRY_WARNING_SECONDS = 14 * 24 * 60 * 60;

export interface CredentialFinding {
  /** `namespace/name` of the Gateway naming the credential. */
  gateway: string;
  /** Where the Secret was found. */
  secret: { namespace: string; name: string };
  /** `error`: ResolvedRefs=False and a Warning Event; `warning`: a Warning Event only. */
  severity: "error" | "warning";
  reason: "CredentialExpired" | "CredentialNotYetValid" | "CredentialChainOrder" | "CredentialHostMismatch" | "CredentialExpiringSoon";
  message: string;
}

export interface CredentialExpiry {
  namespace: string;
  name: string;
  /** Seconds until the earliest certificate in the Secret expires (negative: expired). */
  seconds: number;
}

const certificateKeys = ["tls.crt", "cert"] as const;

function secretValue(secret: Secret, key: string): string | undefined {
  const plain = secret.stringData?.[key];
  if (plain !== undefined) return plain;
  const encoded = secret.data?.[key];
  return encoded === undefined ? undefined : Buffer.from(encoded, "base64").toString("utf8");
}

function parseAll(pem: string): X509Certificate[] | undefined {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  try {
    return blocks.map((block) => new X509Certificate(block));
  } catch {
    return undefined; // the compiler reports it
  }
}

/** A server host as a certificate must cover it: `ns/` dropped; `*` (any host) is not checked. */
function hostName(host: string): string | undefined {
  const name = host.includes("/") ? host.slice(host.indexOf("/") + 1) : host;
  return name === "*" ? undefined : name.toLowerCase();
}

/** Does a SAN list cover `host` (exact, or one-label wildcard either way round)? */
function covered(certificate: X509Certificate, host: string): boolean {
  if (!host.startsWith("*.")) return certificate.checkHost(host) !== undefined;
  const sans = (certificate.subjectAltName ?? "").split(/,\s*/).filter((entry) => entry.startsWith("DNS:")).map((entry) => entry.slice(4).toLowerCase());
  return sans.includes(host);
}

const iso = (date: string): string => new Date(date).toISOString().replace(/\.\d+Z$/, "Z");

export function checkCredentials(snapshot: Snapshot, proxies: readonly GatewayProxy[], now: Date): { findings: CredentialFinding[]; expiries: CredentialExpiry[] } {
  const findings: CredentialFinding[] = [];
  const expiries = new Map<string, CredentialExpiry>();
  const seen = new Set<string>();
  for (const proxy of proxies) {
    for (const gateway of snapshot.gateways.filter((candidate) => selectsProxy(candidate, proxy))) {
      const gatewayKey = resourceKey(gateway);
      for (const server of gateway.spec.servers ?? []) {
        const credentialName = server.tls?.credentialName;
        const mode = server.tls?.mode ?? "SIMPLE";
        if (!credentialName || mode === "PASSTHROUGH" || mode === "AUTO_PASSTHROUGH" || mode === "ISTIO_MUTUAL") continue;
        let found: { secret: Secret; namespace: string } | undefined;
        for (const namespace of searchNamespaces(proxy.namespace, namespaceOf(gateway))) {
          const secret = snapshot.secret(namespace, credentialName);
          if (secret) {
            found = { secret, namespace };
            break;
          }
        }
        if (!found) continue; // a compile diagnostic already
        const key = certificateKeys.find((candidate) => secretValue(found.secret, candidate) !== undefined);
        const chain = key ? parseAll(secretValue(found.secret, key) ?? "") : undefined;
        if (!chain || chain.length === 0) continue; // a compile diagnostic already
        const where = { namespace: found.namespace, name: credentialName };
        const id = `${gatewayKey}|${found.namespace}/${credentialName}|${(server.hosts ?? []).join(",")}`;
        if (seen.has(id)) continue;
        seen.add(id);
        const secretRef = `Secret ${found.namespace}/${credentialName}`;
        const report = (severity: CredentialFinding["severity"], reason: CredentialFinding["reason"], message: string): void => {
          findings.push({ gateway: gatewayKey, secret: where, severity, reason, message: `${secretRef} (credentialName of Gateway ${gatewayKey}): ${message}` });
        };

        const earliest = Math.min(...chain.map((certificate) => Date.parse(certificate.validTo)));
        expiries.set(`${found.namespace}/${credentialName}`, { ...where, seconds: Math.floor((earliest - now.getTime()) / 1000) });
        chain.forEach((certificate, index) => {
          const which = index === 0 ? "the certificate" : `certificate #${index + 1} in ${key}`;
          if (Date.parse(certificate.validTo) <= now.getTime()) {
            report("error", "CredentialExpired", `${which} (${certificate.subject.replace(/\n/g, ", ")}) expired at ${iso(certificate.validTo)}; Envoy still presents it and clients reject it: renew it and update the Secret`);
          } else if (Date.parse(certificate.validFrom) > now.getTime()) {
            report("error", "CredentialNotYetValid", `${which} (${certificate.subject.replace(/\n/g, ", ")}) is not valid before ${iso(certificate.validFrom)}; check the issuer's clock or wait`);
          }
        });
        for (let index = 0; index + 1 < chain.length; index++) {
          const child = chain[index];
          const parent = chain[index + 1];
          if (child && parent && !(child.checkIssued(parent) && child.verify(parent.publicKey))) {
            report("error", "CredentialChainOrder", `certificate #${index + 2} in ${key} did not issue certificate #${index + 1}; order the chain leaf first, then each issuer`);
            break;
          }
        }
        if (earliest > now.getTime() && earliest - now.getTime() < EXPIRY_WARNING_SECONDS * 1000) {
          report("warning", "CredentialExpiringSoon", `expires at ${iso(new Date(earliest).toISOString())} (under 14 days): renew it`);
        }
        const leaf = chain[0];
        const uncovered = (server.hosts ?? []).map(hostName).filter((host): host is string => host !== undefined && leaf !== undefined && !covered(leaf, host));
        if (uncovered.length > 0) {
          report("warning", "CredentialHostMismatch", `the certificate's SANs (${leaf?.subjectAltName ?? "none"}) do not cover ${uncovered.join(", ")}; clients verifying the host name will reject it`);
        }
      }
    }
  }
  return { findings, expiries: [...expiries.values()] };
}
