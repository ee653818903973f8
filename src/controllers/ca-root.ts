/**
 * ConfigMap `pilotfish-ca-root` (key `root-cert.pem`: the operator CA's public certificate) in
 * every namespace that has a proxy the operator serves over TLS — Istio's `istio-ca-root-cert`.
 * A proxy verifies the xDS server's certificate against it (SNI `pilotfish.<namespace>.svc`).
 *
 * Which namespaces (`caRootNamespaces`, pure): those of gateway Deployments (labelled
 * `pilotfish.io/gateway=true`) and those the sidecar injector serves (labelled
 * `istio-injection=enabled`, or `istio.io/rev` without `istio-injection`: config/webhook's
 * selectors). Two informers (namespaces; gateway Deployments) trigger a reconcile; every
 * `resyncMs` each ConfigMap is applied again, so one deleted by hand comes back. The ConfigMap is
 * written with server-side apply (field manager `pilotfish-ca-root`); a namespace that stops
 * qualifying keeps its copy (a public certificate; Istio does the same).
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { ResilientInformer } from "../sources/kube/informer.js";
import type { KubeObject, KubeRest } from "../sources/kube/rest.js";

export const caRootConfigMapName = "pilotfish-ca-root";
export const caRootKey = "root-cert.pem";
const fieldManager = "pilotfish-ca-root";
const excluded = new Set(["kube-system", "kube-public", "kube-node-lease"]);

/** The namespaces that get the CA root, from the cluster's namespaces and gateway Deployments. */
export function caRootNamespaces(namespaces: readonly KubeObject[], gatewayDeployments: readonly KubeObject[]): string[] {
  const out = new Set<string>();
  for (const deployment of gatewayDeployments) if (deployment.metadata?.namespace) out.add(deployment.metadata.namespace);
  for (const namespace of namespaces) {
    const name = namespace.metadata?.name;
    const labels = namespace.metadata?.labels ?? {};
    if (!name || excluded.has(name)) continue;
    const injection = labels["istio-injection"];
    if (injection === "enabled" || (injection === undefined && labels["istio.io/rev"] !== undefined)) out.add(name);
  }
  return [...out].sort();
}

export function caRootConfigMap(namespace: string, caPem: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: caRootConfigMapName, namespace, labels: { "app.kubernetes.io/name": "pilotfish", "app.kubernetes.io/component": "ca-root" } },
    data: { [caRootKey]: caPem },
  };
}

export interface CaRootLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

export interface CaRootPublisherOptions {
  rest: KubeRest;
  kubeConfig: KubeConfig;
  caPem: string;
  logger: CaRootLogger;
  /** Re-apply every ConfigMap this often (default 5 min). */
  resyncMs?: number;
}

export class CaRootPublisher {
  readonly #options: CaRootPublisherOptions;
  readonly #namespaces: ResilientInformer;
  readonly #deployments: ResilientInformer;
  /** Namespaces whose ConfigMap is applied with the current content. */
  readonly #applied = new Set<string>();
  /** Namespaces whose publication was logged (a resync re-applies quietly). */
  readonly #announced = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #resync: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: CaRootPublisherOptions) {
    this.#options = options;
    const events = {
      onChange: () => this.#schedule(),
      onSynced: () => this.#schedule(),
      onError: (error: unknown, retryInMs: number) =>
        options.logger.warn(`CA root publisher: watch failed (${error instanceof Error ? error.message : String(error)}); retrying in ${retryInMs} ms`),
    };
    this.#namespaces = new ResilientInformer({ name: "namespaces", path: "/api/v1/namespaces", apiVersion: "v1", kind: "Namespace" }, options.rest, options.kubeConfig, events);
    this.#deployments = new ResilientInformer(
      { name: "deployments/ca-root", path: "/apis/apps/v1/deployments", apiVersion: "apps/v1", kind: "Deployment", labelSelector: "pilotfish.io/gateway=true" },
      options.rest,
      options.kubeConfig,
      events,
    );
  }

  start(): void {
    this.#namespaces.start();
    this.#deployments.start();
    const resync = (): void => {
      this.#resync = setTimeout(() => {
        this.#applied.clear();
        this.#schedule();
        resync();
      }, this.#options.resyncMs ?? 300_000);
      this.#resync.unref();
    };
    resync();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#resync) clearTimeout(this.#resync);
    await Promise.all([this.#namespaces.stop(), this.#deployments.stop()]);
    await this.#running;
  }

  /** Coalesces a burst of watch events into one reconcile. */
  #schedule(): void {
    if (this.#stopped || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.#running.then(() => this.#reconcile());
    }, 20);
  }

  async #reconcile(): Promise<void> {
    if (this.#stopped || !this.#namespaces.synced || !this.#deployments.synced) return;
    const wanted = caRootNamespaces(this.#namespaces.list(), this.#deployments.list());
    for (const namespace of wanted) {
      if (this.#applied.has(namespace) || this.#stopped) continue;
      try {
        await this.#options.rest.apply(`/api/v1/namespaces/${namespace}/configmaps/${caRootConfigMapName}`, caRootConfigMap(namespace, this.#options.caPem), fieldManager);
        this.#applied.add(namespace);
        if (this.#announced.has(namespace)) continue;
        this.#announced.add(namespace);
        this.#options.logger.info(`published the CA root (ConfigMap ${namespace}/${caRootConfigMapName})`);
      } catch (error) {
        this.#options.logger.warn(`cannot publish ConfigMap ${namespace}/${caRootConfigMapName}: ${error instanceof Error ? error.message : String(error)}; retrying`);
        setTimeout(() => this.#schedule(), 2000).unref();
      }
    }
  }
}
