/**
 * A Gateway server's TLS settings → Envoy `DownstreamTlsContext` (the TLS that terminates at the
 * gateway): certificate by SDS from credentialName (or files mounted in the gateway pod), client
 * certificate verification for MUTUAL/OPTIONAL_MUTUAL, TLS versions, cipher suites and ALPN.
 *
 * Anything Envoy would reject (an unknown cipher, max version below min) is dropped here with a
 * diagnostic, because Envoy refuses a listener as a whole: one bad server must not take the
 * others on its port down.
 */
import type { ServerTLSSettings, TLSProtocolVersion } from "../../api/index.js";
import type { Diagnostic } from "../output.js";
import type { EnvoyJson, EnvoyResource } from "../../envoy/resources.js";
import type { ServerContext } from "../filter-chains/types.js";
import { namespaceOf } from "../binding.js";
import { resolveCredential } from "./credentials.js";
import { sdsSecretConfig } from "./sds.js";
import { envoyCipherSuites } from "../../envoy/cipher-suites.js";

const downstreamTlsContextType = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";

/** ALPN Istio advertises on terminated gateway HTTPS: HTTP/2 first, then HTTP/1.1. */
export const httpsAlpn = ["h2", "http/1.1"];

const envoyTlsVersion: Record<TLSProtocolVersion, string> = {
  TLS_AUTO: "TLS_AUTO",
  TLSV1_0: "TLSv1_0",
  TLSV1_1: "TLSv1_1",
  TLSV1_2: "TLSv1_2",
  TLSV1_3: "TLSv1_3",
};
const versionRank: Record<TLSProtocolVersion, number> = { TLS_AUTO: 0, TLSV1_0: 1, TLSV1_1: 2, TLSV1_2: 3, TLSV1_3: 4 };


export interface DownstreamTls {
  transportSocket: EnvoyJson;
  secrets: EnvoyResource[];
}

export type DownstreamTlsResult = { ok: true; tls: DownstreamTls; diagnostics: Diagnostic[] } | { ok: false; diagnostics: Diagnostic[] };

function tlsParams(tls: ServerTLSSettings, ctx: ServerContext, diagnostics: Diagnostic[]): EnvoyJson {
  const params: EnvoyJson = {};
  // Istio's gateways default to TLS 1.2 as the minimum.
  const min = tls.minProtocolVersion ?? "TLSV1_2";
  params.tls_minimum_protocol_version = envoyTlsVersion[min];
  if (tls.maxProtocolVersion) {
    const max = tls.maxProtocolVersion;
    if (max !== "TLS_AUTO" && min !== "TLS_AUTO" && versionRank[max] < versionRank[min]) {
      diagnostics.push(ctx.serverDiagnostic("warning", "tls.maxProtocolVersion", `maxProtocolVersion ${max} is below minProtocolVersion ${min}; ignored`));
    } else {
      params.tls_maximum_protocol_version = envoyTlsVersion[max];
    }
  }
  if (tls.cipherSuites && tls.cipherSuites.length > 0) {
    const kept: string[] = [];
    tls.cipherSuites.forEach((suite, index) => {
      if (!envoyCipherSuites.has(suite)) {
        diagnostics.push(ctx.serverDiagnostic("warning", `tls.cipherSuites[${index}]`, `cipher suite ${suite} is not supported by Envoy; ignored`));
      } else if (kept.includes(suite)) {
        diagnostics.push(ctx.serverDiagnostic("warning", `tls.cipherSuites[${index}]`, `cipher suite ${suite} is listed twice`));
      } else {
        kept.push(suite);
      }
    });
    if (kept.length > 0) params.cipher_suites = kept;
    else diagnostics.push(ctx.serverDiagnostic("warning", "tls.cipherSuites", "no supported cipher suite left; Envoy's defaults are used"));
  }
  return params;
}

/** The terminated TLS of a SIMPLE, MUTUAL or OPTIONAL_MUTUAL server, or why it cannot be built. */
export function downstreamTls(ctx: ServerContext, alpn: readonly string[] = httpsAlpn): DownstreamTlsResult {
  const tls: ServerTLSSettings = ctx.server.tls ?? {};
  const mode = tls.mode ?? "SIMPLE";
  const diagnostics: Diagnostic[] = [];
  if (mode === "ISTIO_MUTUAL") {
    return { ok: false, diagnostics: [ctx.serverDiagnostic("error", "tls.mode", "ISTIO_MUTUAL needs mesh certificates, which pilotfish does not issue yet; server skipped")] };
  }
  if (mode !== "SIMPLE" && mode !== "MUTUAL" && mode !== "OPTIONAL_MUTUAL") {
    return { ok: false, diagnostics: [ctx.serverDiagnostic("error", "tls.mode", `TLS mode ${mode} does not terminate TLS; server skipped`)] };
  }
  const verifyClient = mode === "MUTUAL" || mode === "OPTIONAL_MUTUAL";
  const common: EnvoyJson = { tls_params: tlsParams(tls, ctx, diagnostics), alpn_protocols: [...alpn] };
  const secrets: EnvoyResource[] = [];
  let caSecretName: string | undefined;
  let caFile: string | undefined;

  if (tls.credentialName) {
    const resolved = resolveCredential({
      snapshot: ctx.snapshot,
      credentialName: tls.credentialName,
      workloadNamespace: ctx.proxy.namespace,
      resourceNamespace: namespaceOf(ctx.gateway),
      needCertificate: true,
      needCa: verifyClient,
      subject: {
        kind: "Gateway",
        namespace: namespaceOf(ctx.gateway),
        name: ctx.gateway.metadata.name,
        field: `spec.servers[${ctx.serverIndex}].tls.credentialName`,
      },
    });
    if (!resolved.ok) {
      return { ok: false, diagnostics: [...diagnostics, ...resolved.diagnostics.map((d) => ({ ...d, message: `${d.message}; server skipped` }))] };
    }
    secrets.push(...resolved.credential.secrets);
    if (resolved.credential.certificateSecretName) {
      common.tls_certificate_sds_secret_configs = [sdsSecretConfig(resolved.credential.certificateSecretName)];
    }
    caSecretName = resolved.credential.caSecretName;
  } else if (tls.serverCertificate && tls.privateKey) {
    // Istio's pre-SDS form: files mounted into the gateway pod. Envoy reads them when it loads
    // the listener, so the compiler cannot check them.
    common.tls_certificates = [{ certificate_chain: { filename: tls.serverCertificate }, private_key: { filename: tls.privateKey } }];
    caFile = verifyClient ? tls.caCertificates : undefined;
    diagnostics.push(
      ctx.serverDiagnostic("warning", "tls.serverCertificate", "certificate files are read by Envoy in the gateway pod and cannot be checked here; prefer credentialName"),
    );
    if (verifyClient && !caFile) {
      return { ok: false, diagnostics: [...diagnostics, ctx.serverDiagnostic("error", "tls.caCertificates", `${mode} needs caCertificates (or credentialName); server skipped`)] };
    }
  } else {
    return {
      ok: false,
      diagnostics: [...diagnostics, ctx.serverDiagnostic("error", "tls.credentialName", `${mode} needs credentialName (or serverCertificate and privateKey); server skipped`)],
    };
  }

  if (verifyClient) {
    const defaults: EnvoyJson = {};
    const sans = tls.subjectAltNames ?? [];
    if (sans.length > 0) defaults.match_typed_subject_alt_names = sans.map((san) => ({ san_type: "DNS", matcher: { exact: san } }));
    if (tls.verifyCertificateSpki?.length) defaults.verify_certificate_spki = [...tls.verifyCertificateSpki];
    if (tls.verifyCertificateHash?.length) defaults.verify_certificate_hash = [...tls.verifyCertificateHash];
    if (caSecretName) {
      common.combined_validation_context = { default_validation_context: defaults, validation_context_sds_secret_config: sdsSecretConfig(caSecretName) };
    } else if (caFile) {
      common.validation_context = { ...defaults, trusted_ca: { filename: caFile } };
    }
  }

  const context: EnvoyJson = { "@type": downstreamTlsContextType, common_tls_context: common };
  if (mode === "MUTUAL") context.require_client_certificate = true;
  return {
    ok: true,
    tls: { transportSocket: { name: "envoy.transport_sockets.tls", typed_config: context }, secrets },
    diagnostics,
  };
}

/**
 * SNI names a filter chain matches: the server's hosts without `ns/`. `*` matches any name, so
 * the chain then carries no server_names at all (Envoy's catch-all for TLS on the port).
 */
export function serverNames(hostNames: readonly string[]): string[] | undefined {
  if (hostNames.some((host) => host === "*")) return undefined;
  return [...new Set(hostNames.map((host) => host.toLowerCase()))].sort();
}
