/**
 * The ADS server as `pilotfish operator` runs it (docs/xds.md): TLS with a serving certificate
 * from the operator's own CA (the webhook's CA Secret, ADR 0004 — one CA, one root for proxies
 * to trust), renewed in place at two thirds of its lifetime without dropping a stream; clients
 * authenticated by TokenReview and entitled by their pod (xds-auth.ts); the CA's certificate
 * published as ConfigMap pilotfish-ca-root where proxies run (ca-root.ts).
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { KubeRest } from "../sources/kube/rest.js";
import { caSecretName } from "../webhook/index.js";
import { issueServing, keepRenewed, loadCaWithRetry, renewAt } from "../webhook/certificates.js";
import type { IssuedServing } from "../webhook/certificates.js";
import { startXds } from "../xds/index.js";
import type { XdsLogger, XdsServing } from "../xds/index.js";
import { CaRootPublisher } from "./ca-root.js";
import { KubeXdsAuthenticator } from "./xds-auth.js";

const DAY_MS = 24 * 60 * 60 * 1000;

export interface OperatorXdsOptions {
  kubeConfig: KubeConfig;
  /** The operator's namespace: where the CA Secret lives. */
  namespace: string;
  address: string;
  /** Serve plaintext instead of TLS (`--xds-plaintext`). */
  plaintext: boolean;
  /**
   * `kubernetes` (TokenReview; no token = refused), `permissive` (the same, but a client without a
   * token is served without secrets) or `none` (loopback only).
   */
  auth: "kubernetes" | "permissive" | "none";
  /** DNS names and IPs of the serving certificate (proxies verify `pilotfish.<namespace>.svc`). */
  certHosts: readonly string[];
  debugAddress?: string;
  logger: XdsLogger & { error(message: string, fields?: Record<string, unknown>): void };
  /** Serving certificate lifetime (default 30 days; tests shorten it to see a renewal). */
  servingValidityMs?: number;
  caRootResyncMs?: number;
}

export interface OperatorXds extends XdsServing {
  /** The CA certificate proxies verify the server with (PEM), when serving TLS. */
  caPem: string | undefined;
  /** The serving certificate in use. */
  serving(): IssuedServing | undefined;
}

export function defaultXdsCertHosts(namespace: string): string[] {
  return [`pilotfish.${namespace}.svc`, `pilotfish.${namespace}.svc.cluster.local`];
}

export async function startOperatorXds(options: OperatorXdsOptions): Promise<OperatorXds> {
  const { logger } = options;
  const rest = new KubeRest(options.kubeConfig);
  const authentication = options.auth === "none" ? ("none" as const) : new KubeXdsAuthenticator({ rest });
  const anonymous = options.auth === "permissive" ? ("serve-without-secrets" as const) : ("refuse" as const);
  if (options.plaintext) {
    const xds = await startXds({ address: options.address, plaintext: true, authentication, anonymous, debugAddress: options.debugAddress, logger });
    return { ...xds, caPem: undefined, serving: () => undefined };
  }
  const { ca } = await loadCaWithRetry(rest, options.namespace, caSecretName, "xDS:", logger);
  const validityMs = options.servingValidityMs ?? 30 * DAY_MS;
  const serving = await issueServing(ca, options.certHosts, validityMs);
  const xds = await startXds({ address: options.address, plaintext: false, tls: serving, authentication, anonymous, debugAddress: options.debugAddress, logger });
  logger.info(
    `xDS serving certificate for ${options.certHosts.join(", ")} from the CA in Secret ${options.namespace}/${caSecretName}, renewed at ${renewAt(serving.issuedAt, serving.notAfter).toISOString()}`,
  );

  const renewal = keepRenewed({ ca, hosts: options.certHosts, validityMs, initial: serving, apply: (next) => xds.server.setCertificate(next), what: "xDS", logger });

  const caRoot = new CaRootPublisher({ rest, kubeConfig: options.kubeConfig, caPem: ca.certificatePem, logger, resyncMs: options.caRootResyncMs });
  caRoot.start();

  return {
    ...xds,
    caPem: ca.certificatePem,
    serving: () => renewal.current(),
    close: async () => {
      renewal.stop();
      await caRoot.stop();
      await xds.close();
    },
  };
}
