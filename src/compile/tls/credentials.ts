/**
 * credentialName → SDS secrets, with Istio's look-up rules (see ISTIO-FACTS "credentialName"):
 *
 * - the certificate comes from keys `tls.crt`/`tls.key`, else `cert`/`key`, of Secret `<name>`;
 * - the CA (MUTUAL, OPTIONAL_MUTUAL, upstream verification) from Secret `<name>-cacert` if it
 *   exists (keys `ca.crt` or `cacert`), else from keys `ca.crt`/`cacert` of `<name>` itself;
 * - Istio reads Secrets only from the gateway WORKLOAD's namespace. pilotfish also reads the
 *   namespace of the resource that names the credential (the Gateway, or the DestinationRule),
 *   which Istio users have asked for for years (istio#14598, #25018). The workload's namespace
 *   is searched first, so a config that works on Istio resolves the same here. Any other
 *   namespace is refused: a credentialName is a plain Secret name.
 *
 * Every PEM is parsed with node:crypto before it becomes an SDS resource, and the private key
 * must match the certificate: Envoy would otherwise reject the whole listener (taking the other
 * servers on the port down with it), so a bad credential drops only the server that names it.
 * Expiry is not checked: the compiler has no clock, and Envoy serves expired certificates anyway.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import type { Secret } from "../../model/kube.js";
import type { Snapshot } from "../../model/snapshot.js";
import type { Diagnostic } from "../output.js";
import type { EnvoyResource } from "../../envoy/resources.js";
import { caSdsName, certificateSdsName, tlsCertificateSecret, validationContextSecret } from "./sds.js";

/** The resource and field that named the credential, for diagnostics. */
export interface CredentialSubject {
  kind: string;
  namespace: string;
  name: string;
  /** e.g. `spec.servers[1].tls.credentialName` */
  field: string;
}

export interface CredentialRequest {
  snapshot: Snapshot;
  credentialName: string;
  /** Namespace of the gateway workload (searched first: Istio's rule). */
  workloadNamespace: string;
  /** Namespace of the resource naming the credential (searched second: pilotfish's addition). */
  resourceNamespace: string;
  /** The certificate and key are needed (servers; DestinationRule MUTUAL). */
  needCertificate: boolean;
  /** The CA is needed (MUTUAL/OPTIONAL_MUTUAL servers; verified upstream TLS). */
  needCa: boolean;
  subject: CredentialSubject;
}

export interface ResolvedCredential {
  /** `kubernetes://<name>`, set when the certificate was requested. */
  certificateSecretName?: string;
  /** `kubernetes://<name>-cacert`, set when the CA was requested. */
  caSecretName?: string;
  /** The SDS resources to publish (in a Kubernetes Secret, never a ConfigMap). */
  secrets: EnvoyResource[];
  /** Where the Secret was found. */
  namespace: string;
}

export type CredentialResult =
  | { ok: true; credential: ResolvedCredential; diagnostics: Diagnostic[] }
  | { ok: false; diagnostics: Diagnostic[] };

const certificateKeyPairs: ReadonlyArray<readonly [string, string]> = [
  ["tls.crt", "tls.key"],
  ["cert", "key"],
];
const caKeys = ["ca.crt", "cacert"] as const;

/** A Kubernetes Secret name: a DNS-1123 subdomain. */
const secretNamePattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The decoded value of a Secret key (`stringData` wins over `data`, as the API server merges). */
function secretValue(secret: Secret, key: string): string | undefined {
  const plain = secret.stringData?.[key];
  if (plain !== undefined) return plain;
  const encoded = secret.data?.[key];
  if (encoded === undefined) return undefined;
  return Buffer.from(encoded, "base64").toString("utf8");
}

function withTrailingNewline(pem: string): string {
  return pem.endsWith("\n") ? pem : `${pem}\n`;
}

/** Parses every CERTIFICATE block; returns the first certificate or why it is unusable. */
function parseCertificates(pem: string): { first: X509Certificate } | { error: string } {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) return { error: "holds no PEM CERTIFICATE block" };
  let first: X509Certificate | undefined;
  for (const [index, block] of blocks.entries()) {
    try {
      const certificate = new X509Certificate(block);
      first ??= certificate;
    } catch (error) {
      return { error: `certificate #${index + 1} does not parse (${errorMessage(error)})` };
    }
  }
  return first ? { first } : { error: "holds no certificate" };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

interface Located {
  secret: Secret;
  namespace: string;
}

function findSecret(request: CredentialRequest, name: string, namespaces: readonly string[]): Located | undefined {
  for (const namespace of namespaces) {
    const secret = request.snapshot.secret(namespace, name);
    if (secret) return { secret, namespace };
  }
  return undefined;
}

export function searchNamespaces(workloadNamespace: string, resourceNamespace: string): string[] {
  return workloadNamespace === resourceNamespace ? [workloadNamespace] : [workloadNamespace, resourceNamespace];
}

export function resolveCredential(request: CredentialRequest): CredentialResult {
  const { credentialName, subject } = request;
  const namespaces = searchNamespaces(request.workloadNamespace, request.resourceNamespace);
  const where = namespaces.map((ns) => `"${ns}"`).join(" or ");
  const fail = (message: string): CredentialResult => ({
    ok: false,
    diagnostics: [{ severity: "error", kind: subject.kind, namespace: subject.namespace, name: subject.name, field: subject.field, message }],
  });

  if (!secretNamePattern.test(credentialName) || credentialName.length > 253) {
    return fail(
      `credentialName "${credentialName}" is not a Secret name; it must name a Secret in namespace ${where} ` +
        "(Secrets in other namespaces are not used)",
    );
  }

  // The CA may live in its own Secret even when the certificate is not needed (upstream SIMPLE).
  const main = findSecret(request, credentialName, namespaces);
  const secrets: EnvoyResource[] = [];
  const credential: ResolvedCredential = { secrets, namespace: main?.namespace ?? namespaces[0] ?? request.workloadNamespace };

  if (request.needCertificate) {
    if (!main) {
      return fail(
        `Secret "${credentialName}" not found in namespace ${where}; create it, e.g. ` +
          `kubectl create -n ${request.workloadNamespace} secret tls ${credentialName} --cert=server.pem --key=server.key`,
      );
    }
    const pair = certificateKeyPairs.find(([certKey, keyKey]) => secretValue(main.secret, certKey) !== undefined && secretValue(main.secret, keyKey) !== undefined);
    if (!pair) {
      return fail(
        `Secret ${main.namespace}/${credentialName} has neither tls.crt/tls.key nor cert/key; ` +
          "store the certificate chain and private key under one of those key pairs",
      );
    }
    const [certKey, keyKey] = pair;
    const certificatePem = secretValue(main.secret, certKey) ?? "";
    const privateKeyPem = secretValue(main.secret, keyKey) ?? "";
    const parsed = parseCertificates(certificatePem);
    if ("error" in parsed) return fail(`Secret ${main.namespace}/${credentialName} key ${certKey} ${parsed.error}; store a PEM certificate chain there`);
    let privateKey;
    try {
      privateKey = createPrivateKey(privateKeyPem);
    } catch (error) {
      return fail(`Secret ${main.namespace}/${credentialName} key ${keyKey} is not a PEM private key (${errorMessage(error)})`);
    }
    if (!parsed.first.checkPrivateKey(privateKey)) {
      return fail(
        `Secret ${main.namespace}/${credentialName}: the private key in ${keyKey} does not belong to the first certificate in ${certKey}; ` +
          "put the server certificate first, followed by its intermediates",
      );
    }
    credential.certificateSecretName = certificateSdsName(credentialName);
    secrets.push(tlsCertificateSecret(credential.certificateSecretName, withTrailingNewline(certificatePem), withTrailingNewline(privateKeyPem)));
  }

  if (request.needCa) {
    const caNamespaces = main ? [main.namespace] : namespaces;
    const caSecret = findSecret(request, `${credentialName}-cacert`, caNamespaces);
    const sources: Located[] = caSecret ? [caSecret] : main ? [main] : [];
    let caPem: string | undefined;
    let source = "";
    for (const located of sources) {
      for (const key of caKeys) {
        const value = secretValue(located.secret, key);
        if (value !== undefined) {
          caPem = value;
          source = `Secret ${located.namespace}/${located.secret.metadata.name} key ${key}`;
          break;
        }
      }
    }
    if (caPem === undefined) {
      const fix = caSecret
        ? `Secret ${caSecret.namespace}/${credentialName}-cacert has neither ca.crt nor cacert; add the CA bundle under ca.crt`
        : `no CA for "${credentialName}": add key ca.crt to Secret "${credentialName}" or create Secret "${credentialName}-cacert" with key ca.crt in namespace ${where}`;
      return fail(fix);
    }
    const parsed = parseCertificates(caPem);
    if ("error" in parsed) return fail(`${source} ${parsed.error}; store the PEM CA bundle there`);
    credential.caSecretName = caSdsName(credentialName);
    secrets.push(validationContextSecret(credential.caSecretName, withTrailingNewline(caPem)));
  }

  return { ok: true, credential, diagnostics: [] };
}
