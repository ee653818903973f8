/**
 * The sidecar controller: one compiled config per injected workload, handed to the ADS store
 * (docs/adr/0011-sidecar-config-over-ads.md).
 *
 * Level-based like the gateway loop: any change re-queues every sidecar workload (and every one
 * that was published and is gone); a reconcile reads the informers' current state, finds the
 * workload among the running injected pods (src/compile/sidecar/workloads.ts), compiles it with
 * `compileSidecar` and publishes it under `<namespace>/<workload>`. The store hashes content, so
 * a recompile that changes nothing pushes nothing. A workload whose last pod is gone has its
 * config withdrawn (its connected Envoys keep their last config, as gateways do).
 *
 * The controller writes nothing to the cluster: the config lives in the operator's memory and
 * reaches the proxies over ADS only, so it exists only when ADS is on.
 */
import { compileSidecar } from "../compile/sidecar/compile.js";
import { sidecarWorkloads } from "../compile/sidecar/workloads.js";
import type { SidecarPod, SidecarWorkload } from "../compile/sidecar/workloads.js";
import { defaultCompileOptions } from "../compile/output.js";
import type { CompileOptions, Diagnostic } from "../compile/output.js";
import type { EnvoyResources } from "../envoy/resources.js";
import type { Snapshot, SnapshotInputs } from "../model/snapshot.js";
import type { Logger } from "./log.js";
import type { OperatorMetrics } from "./metrics.js";
import { WorkQueue } from "./queue.js";
import type { WorkQueueOptions } from "./queue.js";

export interface SidecarControllerOptions {
  /** The informers' current inputs (pods and services are read here). */
  inputs(): SnapshotInputs;
  /** Bumped by the source on every change (the cache key of the workload list). */
  generation(): number;
  /** The snapshot of those inputs, shared with the gateway loop. */
  snapshot(): Snapshot;
  /** Keys owned by gateway Deployments: never compiled as sidecars (the gateway's config wins). */
  gatewayKeys(): ReadonlySet<string>;
  /** The ADS store's setter (Operator's `onCompiled`); `undefined` withdraws the config. Must not throw. */
  publish(proxyKey: string, resources: EnvoyResources | undefined): void;
  compileOptions?: CompileOptions;
  queue: WorkQueueOptions;
  logger: Logger;
  metrics: OperatorMetrics;
}

export class SidecarController {
  readonly #options: SidecarControllerOptions;
  readonly #queue: WorkQueue<string>;
  /** Keys with a published config. */
  readonly #published = new Set<string>();
  readonly #diagnosticsSeen = new Map<string, string>();
  #workloads: { generation: number; list: Map<string, SidecarWorkload> } | undefined;

  constructor(options: SidecarControllerOptions) {
    this.#options = options;
    this.#queue = new WorkQueue<string>((key) => this.#reconcile(key), options.queue, (report) => {
      if (report.ok) return;
      options.metrics.errors.inc({ stage: "reconcile" });
      options.logger.error(`sidecar reconcile failed (attempt ${report.failures}), retrying in ${report.retryInMs} ms: ${String(report.error)}`, { proxy: report.key });
    });
  }

  /** Something changed: every current workload, and every published one, is recomputed. */
  resync(): void {
    const current = this.#current();
    for (const key of current.keys()) this.#queue.add(key);
    for (const key of this.#published) if (!current.has(key)) this.#queue.add(key);
  }

  /** The workloads with a config published, sorted (tests, logs). */
  published(): string[] {
    return [...this.#published].sort();
  }

  drained(): Promise<void> {
    return this.#queue.drained();
  }

  async stop(): Promise<void> {
    await this.#queue.shutDown();
  }

  /** Workloads of the current inputs; recomputed only when the source handed out new inputs. */
  #current(): Map<string, SidecarWorkload> {
    const generation = this.#options.generation();
    if (this.#workloads?.generation === generation) return this.#workloads.list;
    const inputs = this.#options.inputs();
    const pods = (inputs.pods ?? []) as unknown as readonly SidecarPod[];
    const list = new Map(sidecarWorkloads(pods, inputs.services ?? []).map((workload) => [workload.key, workload]));
    this.#workloads = { generation, list };
    return list;
  }

  async #reconcile(key: string): Promise<void> {
    const workload = this.#current().get(key);
    if (workload && this.#options.gatewayKeys().has(key)) {
      this.#options.logger.warn(`pods of gateway ${key} carry a sidecar; the gateway's config is served under that key, not a sidecar's`, { proxy: key });
    }
    if (!workload || this.#options.gatewayKeys().has(key)) {
      if (this.#published.delete(key)) {
        this.#diagnosticsSeen.delete(key);
        this.#options.publish(key, undefined);
        this.#options.logger.info("sidecar workload gone; its config is withdrawn", { proxy: key });
      }
      return;
    }
    const started = performance.now();
    const result = compileSidecar(this.#options.snapshot(), workload, this.#options.inputs().services ?? [], this.#options.compileOptions ?? defaultCompileOptions);
    this.#options.metrics.compileSeconds.observe({ proxy: key }, (performance.now() - started) / 1000);
    this.#logDiagnostics(key, result.diagnostics);
    const first = !this.#published.has(key);
    this.#options.publish(key, result.resources);
    this.#published.add(key);
    if (first) {
      const r = result.resources;
      this.#options.logger.info(
        `sidecar config for ${workload.pods.length} pod(s) (${workload.pods.join(", ")}): ${r.listeners.length} listeners, ${r.routes.length} route configs, ${r.clusters.length} clusters`,
        { proxy: key },
      );
    }
  }

  #logDiagnostics(key: string, diagnostics: readonly Diagnostic[]): void {
    const fingerprint = JSON.stringify(diagnostics);
    if (this.#diagnosticsSeen.get(key) === fingerprint) return;
    this.#diagnosticsSeen.set(key, fingerprint);
    for (const d of diagnostics) {
      const line = `${d.kind} ${d.namespace}/${d.name} ${d.field}: ${d.message}`;
      const fields = { proxy: key, resource: `${d.kind}/${d.namespace}/${d.name}` };
      if (d.severity === "error") this.#options.logger.warn(line, fields);
      else this.#options.logger.info(line, fields);
    }
  }
}
