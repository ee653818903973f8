/**
 * The operator's webhook (docs/injection.md): one HTTPS server for /inject and /validate, its
 * CA in a Secret, its serving certificate renewed in place, and the caBundle of its two webhook
 * configurations kept current. `startWebhook` wires them; `pilotfish operator` calls it. With
 * certificates "cert-manager" the operator issues nothing and patches nothing: it serves the
 * certificate cert-manager writes into a kubernetes.io/tls Secret (reloaded when it changes),
 * and cert-manager's CA injector keeps caBundle current (ADR 0004).
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { Histogram } from "prom-client";
import type { Registry } from "prom-client";
import type { Logger } from "../controllers/log.js";
import { parseAddress } from "../controllers/http-server.js";
import { KubeRest } from "../sources/kube/rest.js";
import { CaBundlePatcher } from "./ca-bundle.js";
import { followTlsSecret, issueServing, keepRenewed, loadCaWithRetry, renewAt } from "./certificates.js";
import type { IssuedServing } from "./certificates.js";
import type { InjectionSettings } from "./inject/inject.js";
import { WebhookServer } from "./server.js";

export { defaultInjectionSettings } from "./inject/inject.js";
export type { InjectionSettings } from "./inject/inject.js";
export type { DiscoveryAddress } from "./inject/bootstrap.js";

export const defaultWebhookAddr = ":15017";
export const mutatingConfigurationName = "pilotfish-sidecar-injector";
export const validatingConfigurationName = "pilotfish-validator";
export const caSecretName = "pilotfish-webhook-ca";
/** Where the webhook's serving certificate comes from: its own CA, or a Secret cert-manager issues. */
export const webhookCertificateSources = ["self", "cert-manager"] as const;
export type WebhookCertificateSource = (typeof webhookCertificateSources)[number];
/** The Secret the chart's cert-manager Certificate writes (secretName). */
export const defaultServingSecretName = "pilotfish-webhook-tls";
const DAY_MS = 24 * 60 * 60 * 1000;

/** The names in the serving certificate by default: the webhook Service of config/webhook. */
export function defaultCertHosts(namespace: string): string[] {
  return [`pilotfish.${namespace}.svc`, `pilotfish.${namespace}.svc.cluster.local`];
}

export interface WebhookOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  address: string;
  certHosts: readonly string[];
  injection: InjectionSettings;
  logger: Logger;
  servingValidityMs?: number;
  resyncMs?: number;
  /** Where `pilotfish_webhook_review_duration_seconds` is registered (the operator's /metrics). */
  registry?: Registry;
  /** Leader election's write gate (src/controllers/leader.ts): CA Secret creation and caBundle patches only on the leader. */
  mayWrite?: () => boolean;
  /** self (default): its own CA and caBundle patches; cert-manager: the Secret servingSecret, nothing patched. */
  certificates?: WebhookCertificateSource;
  /** certificates cert-manager: the kubernetes.io/tls Secret in `namespace` (default pilotfish-webhook-tls). */
  servingSecret?: string;
  /** certificates cert-manager: between two reads of that Secret (default 10 s). */
  secretPollMs?: number;
}

export interface RunningWebhook {
  address: string;
  close(): Promise<void>;
}

export async function startWebhook(options: WebhookOptions): Promise<RunningWebhook> {
  const { host, port } = parseAddress(options.address);
  const rest = new KubeRest(options.kubeConfig, { mayWrite: options.mayWrite });
  const logger = options.logger;
  const certificates = options.certificates === "cert-manager" ? await certManagerCertificates(rest, options) : await ownCertificates(rest, options);
  const serving = certificates.initial;
  const reviewSeconds = options.registry
    ? new Histogram({
        name: "pilotfish_webhook_review_duration_seconds",
        help: "Time from a complete AdmissionReview to its answer, by path (/inject, /validate) and HTTP status",
        labelNames: ["path", "code"],
        buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
        registers: [options.registry],
      })
    : undefined;
  const server = await WebhookServer.start({
    host,
    port,
    certificate: serving,
    injection: options.injection,
    onReview: (path, summary) => logger.debug(`${path}: ${summary}`),
    onAnswered: (path, code, seconds) => reviewSeconds?.observe({ path, code: String(code) }, seconds),
  });
  logger.info(`serving /inject and /validate on https://${server.address} (TLS >= 1.2; ${certificates.describe})`);
  const stopCertificates = certificates.keep((next) => server.setCertificate(next));
  return {
    address: server.address,
    close: async () => {
      stopCertificates();
      if (reviewSeconds) options.registry?.removeSingleMetric("pilotfish_webhook_review_duration_seconds");
      await server.close();
    },
  };
}

/** Where the serving certificate comes from and how it is kept current. */
interface CertificateSource {
  initial: IssuedServing;
  /** For the "serving on" log line. */
  describe: string;
  /** Starts keeping the certificate (and caBundle) current; returns the stop. */
  keep(apply: (next: IssuedServing) => void): () => void;
}

/** Its own CA (created in a Secret by the first replica), a serving certificate issued and renewed in memory, caBundle patched. */
async function ownCertificates(rest: KubeRest, options: WebhookOptions): Promise<CertificateSource> {
  const logger = options.logger;
  const validityMs = options.servingValidityMs ?? 30 * DAY_MS;
  const { ca, created } = await loadCaWithRetry(rest, options.namespace, caSecretName, "webhook", logger);
  logger.info(`webhook CA ${created ? "created in" : "read from"} Secret ${options.namespace}/${caSecretName}`);
  const initial = await issueServing(ca, options.certHosts, validityMs);
  return {
    initial,
    describe: `certificate for ${options.certHosts.join(", ")}, renewed at ${renewAt(initial.issuedAt, initial.notAfter).toISOString()}`,
    keep: (apply) => {
      const renewal = keepRenewed({ ca, hosts: options.certHosts, validityMs, initial, apply, what: "webhook", logger });
      const patcher = new CaBundlePatcher({
        rest,
        configurations: [
          { kind: "MutatingWebhookConfiguration", name: mutatingConfigurationName },
          { kind: "ValidatingWebhookConfiguration", name: validatingConfigurationName },
        ],
        caPem: ca.certificatePem,
        resyncMs: options.resyncMs ?? 10_000,
        logger,
      });
      patcher.start();
      return () => {
        renewal.stop();
        patcher.stop();
      };
    },
  };
}

/**
 * cert-manager's: the certificate its Certificate writes into a kubernetes.io/tls Secret, waited
 * for at start and re-read until stopped. No CA of its own and no caBundle patch: the
 * configurations carry cert-manager.io/inject-ca-from and cert-manager's CA injector fills them.
 */
async function certManagerCertificates(rest: KubeRest, options: WebhookOptions): Promise<CertificateSource> {
  const name = options.servingSecret ?? defaultServingSecretName;
  let apply: (next: IssuedServing) => void = () => {};
  const follower = await followTlsSecret({ rest, namespace: options.namespace, name, intervalMs: options.secretPollMs ?? 10_000, apply: (next) => apply(next), what: "webhook", logger: options.logger });
  return {
    initial: follower.initial,
    describe: `certificate from Secret ${options.namespace}/${name} (cert-manager), valid until ${follower.initial.notAfter.toISOString()}, re-read every ${options.secretPollMs ?? 10_000} ms`,
    keep: (next) => {
      apply = next;
      return () => follower.stop();
    },
  };
}
