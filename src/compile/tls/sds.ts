/**
 * SDS resource names and references, in Istio's naming: a credential `webapp-credential` is the
 * secret `kubernetes://webapp-credential`, its CA `kubernetes://webapp-credential-cacert`, so
 * `istioctl proxy-config secret` users see what they expect.
 */
import type { EnvoyJson, EnvoyResource } from "../../envoy/resources.js";

export const secretTypeUrl = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

const sdsPrefix = "kubernetes://";
const caSuffix = "-cacert";

export function certificateSdsName(credentialName: string): string {
  return `${sdsPrefix}${credentialName}`;
}

export function caSdsName(credentialName: string): string {
  return `${sdsPrefix}${credentialName}${caSuffix}`;
}

/**
 * A reference to an SDS secret from a TLS context. The config source is ADS; the file publisher
 * rewrites every `ads` config source (RDS, EDS, SDS alike) to the file it writes, so the compiler
 * stays independent of how resources reach Envoy.
 */
export function sdsSecretConfig(name: string): EnvoyJson {
  return { name, sds_config: { ads: {}, resource_api_version: "V3" } };
}

/** An SDS `Secret` holding a certificate chain and its private key, inline PEM. */
export function tlsCertificateSecret(name: string, certificateChainPem: string, privateKeyPem: string): EnvoyResource {
  return {
    "@type": secretTypeUrl,
    name,
    tls_certificate: {
      certificate_chain: { inline_string: certificateChainPem },
      private_key: { inline_string: privateKeyPem },
    },
  };
}

/** An SDS `Secret` holding the CA bundle peers' certificates are verified against. */
export function validationContextSecret(name: string, trustedCaPem: string): EnvoyResource {
  return {
    "@type": secretTypeUrl,
    name,
    validation_context: { trusted_ca: { inline_string: trustedCaPem } },
  };
}
