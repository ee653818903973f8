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
import { issueServing, loadOrCreateCa, renewAt } from "../webhook/certificates.js";
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
  // The CA is needed before anything can be served; API errors are retried, never fatal.
  let loaded: Awaited<ReturnType<typeof loadOrCreateCa>> | undefined;
  for (let attempt = 0; !loaded; attempt++) {
    try {
      loaded = await loadOrCreateCa(rest, options.namespace, caSecretName);
    } catch (error) {
      const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
      logger.warn(`xDS: CA Secret ${options.namespace}/${caSecretName}: ${(error as Error).message}; retrying in ${delay} ms`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
  const { ca } = loaded;
  const validityMs = options.servingValidityMs ?? 30 * DAY_MS;
  let serving = await issueServing(ca, options.certHosts, validityMs);
  const xds = await startXds({ address: options.address, plaintext: false, tls: serving, authentication, anonymous, debugAddress: options.debugAddress, logger });
  logger.info(
    `xDS serving certificate for ${options.certHosts.join(", ")} from the CA in Secret ${options.namespace}/${caSecretName}, renewed at ${renewAt(serving.issuedAt, serving.notAfter).toISOString()}`,
  );

  let closed = false;
  let renewal: NodeJS.Timeout | undefined;
  const scheduleRenewal = (): void => {
    // setTimeout holds at most ~24.8 days; a longer wait is taken in steps.
    const wait = Math.max(1000, Math.min(renewAt(serving.issuedAt, serving.notAfter).getTime() - Date.now(), 2 ** 31 - 1));
    renewal = setTimeout(() => void renew(), wait);
    renewal.unref();
  };
  const renew = async (): Promise<void> => {
    if (closed) return;
    if (Date.now() >= renewAt(serving.issuedAt, serving.notAfter).getTime()) {
      try {
        const next = await issueServing(ca, options.certHosts, validityMs);
        if (closed) return;
        xds.server.setCertificate(next);
        serving = next;
        logger.info(`xDS serving certificate renewed, valid until ${serving.notAfter.toISOString()}`);
      } catch (error) {
        logger.error(`xDS serving certificate renewal failed, retrying: ${(error as Error).message}`);
      }
    }
    if (!closed) scheduleRenewal();
  };
  scheduleRenewal();

  const caRoot = new CaRootPublisher({ rest, kubeConfig: options.kubeConfig, caPem: ca.certificatePem, logger, resyncMs: options.caRootResyncMs });
  caRoot.start();

  return {
    ...xds,
    caPem: ca.certificatePem,
    serving: () => serving,
    close: async () => {
      closed = true;
      if (renewal) clearTimeout(renewal);
      await caRoot.stop();
      await xds.close();
    },
  };
}
