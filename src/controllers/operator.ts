/**
 * The operator loop: informers (KubeSource) → work queue keyed by proxy → reconcile:
 * snapshot → compileGateway → publish plan → ConfigMaps/Secret.
 *
 * Level-based (controller-runtime's model): a key says "make this proxy's published objects
 * match the world", the reconcile reads the informers' current state, never an event. Which
 * proxies a change affects: a gateway Deployment's change affects that proxy; any other change
 * may affect every proxy (a Service can be a destination or a gateway's port map, a Gateway's
 * selector can match any proxy), so all proxies are queued. That costs one compile per proxy —
 * proxies are few — and the publisher writes only objects whose content changed.
 */
import { randomUUID } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";
import { compileGateway } from "../compile/compile.js";
import { defaultCompileOptions } from "../compile/output.js";
import type { CompileOptions, Diagnostic } from "../compile/output.js";
import type { EnvoyResources } from "../envoy/resources.js";
import { buildSnapshot } from "../model/snapshot.js";
import type { Snapshot } from "../model/snapshot.js";
import { gatewayBootstrapYaml } from "../publish/bootstrap.js";
import type { GatewayMode } from "../publish/bootstrap.js";
import { maxObjectDataBytes, maxShardsPerGroup, planPublish } from "../publish/plan.js";
import { Publisher } from "../publish/publisher.js";
import { KubeRest, NotLeaderError } from "../sources/kube/rest.js";
import { KubeSource, describeError } from "../sources/kube/source.js";
import type { GatewayDeployment, SourceChange } from "../sources/kube/source.js";
import { selectsProxy } from "../compile/binding.js";
import { EventRecorder } from "./events.js";
import { clusterHosts, computeStatuses } from "./status.js";
import type { ProxyOutcome } from "./status.js";
import { StatusWriter } from "./status-writer.js";
import { ServicePortManager } from "./service-ports.js";
import { checkCredentials } from "./credentials.js";
import type { CredentialFinding } from "./credentials.js";
import { withFields } from "./log.js";
import type { Leadership } from "./leader.js";
import type { Logger } from "./log.js";
import type { OperatorMetrics } from "./metrics.js";
import { WorkQueue } from "./queue.js";
import { SidecarController } from "./sidecars.js";

export interface OperatorOptions {
  kubeConfig: KubeConfig;
  /** Where the gateway pods mount the five published objects. */
  proxyConfigDir: string;
  proxyAdminPort: number;
  proxyStatusPort: number;
  /** The bootstrap published for gateway pods (default files); ADR 0010. */
  gatewayMode?: GatewayMode;
  /** agent mode: the agent's socket in the pod. */
  agentSocket?: string;
  /** ads mode: the operator's ADS as pods reach it, host:port. */
  xdsProxyAddress?: string;
  /** ads mode: ADS is TLS (verified as this name) with token authentication; absent: plaintext. */
  xdsProxyTls?: { serverName: string };
  maxFileSubscriptions: number;
  debounceMs: number;
  debounceMaxMs: number;
  concurrency: number;
  compileOptions?: CompileOptions;
  logger: Logger;
  metrics: OperatorMetrics;
  /**
   * Hook for another publisher (the ADS server's store, issue 11): every compiled config, before
   * the ConfigMaps are planned; `undefined` when the proxy is gone. Must not throw.
   */
  onCompiled?: (proxyKey: string, resources: EnvoyResources | undefined) => void;
  /** Compile every injected workload's sidecar config into `onCompiled` too (ADS only: src/controllers/sidecars.ts). */
  sidecars?: boolean;
  /**
   * Leader election (leader.ts): absent = always write (a single replica). Present: every write
   * is gated on `isLeader()`; a standby still watches, compiles and feeds `onCompiled`, so a
   * takeover publishes from warm state. Call `leadershipChanged` when it changes.
   */
  leadership?: Leadership;
  /**
   * What the proxy's Envoys currently reject over ADS (the xDS server's NACKED types, with
   * Envoy's message): shown in the Gateways' Programmed condition. Call `proxySyncChanged()`
   * when it changes.
   */
  xdsRejections?: (proxyKey: string) => readonly { type: string; message: string }[];
}

type ProxyKey = string;

/** The queue key of the status sync (not a `namespace/name`, so no proxy can have it). */
const STATUS_KEY = "*status";

const keyOf = (deployment: { namespace: string; name: string }): ProxyKey => `${deployment.namespace}/${deployment.name}`;

export class Operator {
  readonly #options: OperatorOptions;
  readonly #log: Logger;
  readonly #metrics: OperatorMetrics;
  readonly #rest: KubeRest;
  readonly #source: KubeSource;
  readonly #queue: WorkQueue<ProxyKey>;
  #publisher: Publisher;
  #events: EventRecorder;
  #synced = false;
  /** Proxies known at the first sync that have not yet finished a reconcile. */
  #firstRound: Set<ProxyKey> | undefined;
  #snapshot: { generation: number; snapshot: Snapshot } | undefined;
  readonly #diagnosticsSeen = new Map<ProxyKey, string>();
  readonly #refusalSeen = new Map<ProxyKey, string>();
  #statusWriter: StatusWriter;
  #servicePorts: ServicePortManager;
  #recheck: ReturnType<typeof setInterval> | undefined;
  /** Each proxy's latest compile and publish outcome: what status is computed from. */
  readonly #outcomes = new Map<ProxyKey, ProxyOutcome>();
  readonly #sidecars: SidecarController | undefined;

  constructor(options: OperatorOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.#metrics = options.metrics;
    const leadership = options.leadership;
    this.#rest = new KubeRest(options.kubeConfig, { mayWrite: leadership ? () => leadership.isLeader() : undefined });
    this.#publisher = new Publisher(this.#rest);
    this.#events = new EventRecorder(this.#rest);
    this.#statusWriter = new StatusWriter(this.#rest);
    this.#servicePorts = new ServicePortManager(this.#rest);
    this.#queue = new WorkQueue<ProxyKey>(
      (key) => this.#reconcile(key),
      { quietMs: options.debounceMs, maxDelayMs: options.debounceMaxMs, concurrency: options.concurrency },
      (report) => {
        this.#metrics.queueDepth.set(this.#queue.depth());
        if (report.ok) return;
        this.#metrics.errors.inc({ stage: "reconcile" });
        this.#metrics.queueRetries.inc({ key: report.key });
        this.#log.error(`reconcile failed (attempt ${report.failures}), retrying in ${report.retryInMs} ms: ${describeError(report.error)}`, { proxy: report.key });
      },
    );
    const publishSidecar = options.onCompiled;
    this.#sidecars = options.sidecars && publishSidecar
      ? new SidecarController({
          inputs: () => this.#source.inputs(),
          generation: () => this.#source.generation,
          snapshot: () => this.#currentSnapshot(),
          gatewayKeys: () => new Set(this.#source.gatewayDeployments().map(keyOf)),
          publish: publishSidecar,
          compileOptions: options.compileOptions,
          queue: { quietMs: options.debounceMs, maxDelayMs: options.debounceMaxMs, concurrency: options.concurrency },
          logger: options.logger,
          metrics: options.metrics,
        })
      : undefined;
    this.#source = new KubeSource(this.#rest, options.kubeConfig, {
      onChange: (change) => this.#onChange(change),
      onSynced: () => this.#onSynced(),
      onInformerError: (informer) => {
        this.#metrics.errors.inc({ stage: "informer" });
        this.#metrics.informerRestarts.inc({ informer });
      },
      onInformerList: (informer) => this.#metrics.informerLists.inc({ informer }),
      onInvalidResource: (kind) => this.#metrics.invalidResources.inc({ kind }),
    }, this.#log);
    this.#metrics.objectLimitBytes.set(maxObjectDataBytes);
  }

  static watches(): string[] {
    return KubeSource.describeWatches();
  }

  get server(): string {
    return this.#rest.server;
  }

  start(): void {
    this.#source.start();
    // Credentials expire with time, not with a change: re-check (and refresh the expiry metric) every 10 minutes.
    this.#recheck = setInterval(() => {
      if (this.#synced) this.#add(STATUS_KEY);
    }, 10 * 60 * 1000);
    this.#recheck.unref();
  }

  /** A standby is ready too once synced and compiled: it serves ADS and can take over at once. */
  ready(): { ready: boolean; reason: string } {
    if (!this.#synced) return { ready: false, reason: "informers not synced yet" };
    if (this.#firstRound && this.#firstRound.size > 0) return { ready: false, reason: `first ${this.#mayWrite() ? "publish" : "compile"} pending for ${[...this.#firstRound].join(", ")}` };
    return { ready: true, reason: this.#options.leadership ? `ready (${this.#mayWrite() ? "leader" : "standby"})` : "ready" };
  }

  /**
   * The leader Lease was acquired or lost. Acquired: what the writers remember (published hashes,
   * written conditions, Events, Service ports) may be stale — another leader wrote meanwhile — so
   * they start afresh (one GET per object, then only differences are written), and every proxy
   * and the status are queued: the compile is warm, the publish follows at once.
   */
  leadershipChanged(leading: boolean): void {
    if (!leading) return;
    this.#publisher = new Publisher(this.#rest);
    this.#events = new EventRecorder(this.#rest);
    this.#statusWriter = new StatusWriter(this.#rest);
    this.#servicePorts = new ServicePortManager(this.#rest);
    if (!this.#synced) return;
    for (const deployment of this.#source.gatewayDeployments()) this.#add(keyOf(deployment));
    this.#add(STATUS_KEY);
  }

  #mayWrite(): boolean {
    return this.#options.leadership?.isLeader() ?? true;
  }

  /** Resolves when no reconcile is waiting or running (tests and benchmarks). */
  async drained(): Promise<void> {
    await this.#queue.drained();
    await this.#sidecars?.drained();
  }

  async stop(): Promise<void> {
    if (this.#recheck) clearInterval(this.#recheck);
    await this.#source.stop();
    await this.#queue.shutDown();
    await this.#sidecars?.stop();
  }

  #onSynced(): void {
    this.#synced = true;
    const deployments = this.#source.gatewayDeployments();
    this.#firstRound = new Set(deployments.map(keyOf));
    this.#log.info(`informers synced: ${deployments.length} gateway proxies (${deployments.map(keyOf).join(", ") || "none"})`);
    for (const deployment of deployments) this.#add(keyOf(deployment));
    this.#add(STATUS_KEY);
    this.#sidecars?.resync();
  }

  #onChange(change: SourceChange): void {
    this.#log.debug(`${change.type} ${change.kind} ${change.namespace}/${change.name}`, { resource: `${change.kind}/${change.namespace}/${change.name}` });
    if (!this.#synced) return;
    this.#sidecars?.resync();
    if (change.kind === "Deployment") {
      this.#add(`${change.namespace}/${change.name}`);
      return;
    }
    for (const deployment of this.#source.gatewayDeployments()) this.#add(keyOf(deployment));
    this.#add(STATUS_KEY);
  }

  /** A proxy's ADS sync state changed (a NACK, or an ACK after one): the statuses are written again. */
  proxySyncChanged(): void {
    this.#add(STATUS_KEY);
  }

  #add(key: ProxyKey): void {
    this.#queue.add(key);
    this.#metrics.queueDepth.set(this.#queue.depth());
  }

  /** One snapshot per source generation, shared by every proxy compiled from it. */
  #currentSnapshot(): Snapshot {
    const generation = this.#source.generation;
    if (this.#snapshot?.generation !== generation) this.#snapshot = { generation, snapshot: buildSnapshot(this.#source.inputs()) };
    return this.#snapshot.snapshot;
  }

  /** One queue run. Its log lines carry a `reconcile` id (one run = one id) and the proxy's key. */
  async #reconcile(key: ProxyKey): Promise<void> {
    this.#metrics.queueDepth.set(this.#queue.depth());
    const log = withFields(this.#log, { reconcile: randomUUID().slice(0, 8), ...(key === STATUS_KEY ? {} : { proxy: key }) });
    const started = performance.now();
    let result = "error";
    try {
      if (key === STATUS_KEY) {
        await this.#syncStatus(log);
      } else {
        try {
          await this.#reconcileProxy(key, log);
        } finally {
          this.#add(STATUS_KEY);
        }
      }
      result = "ok";
    } catch (error) {
      // Leadership lost in the middle: not a failure to retry; a new leader publishes, and this
      // replica re-queues everything if it leads again.
      if (!(error instanceof NotLeaderError)) throw error;
      result = "not-leader";
      log.info(`reconcile stopped, no longer the leader: ${error.message}`);
    } finally {
      this.#metrics.reconcileSeconds.observe({ key, result }, (performance.now() - started) / 1000);
    }
  }

  /** Conditions from every proxy's latest outcome, written by the one status writer. */
  async #syncStatus(log: Logger): Promise<void> {
    if (!this.#mayWrite()) return;
    const snapshot = this.#currentSnapshot();
    const invalid = this.#source.invalidIstio().map(({ kind, object, problem }) => ({
      kind,
      namespace: String(object.metadata?.namespace ?? "default"),
      name: String(object.metadata?.name ?? ""),
      generation: Number((object.metadata as { generation?: number } | undefined)?.generation ?? 0),
      problem,
    }));
    const knownProxies = this.#source.gatewayDeployments().map((deployment) => deployment.proxy);
    const credentials = checkCredentials(snapshot, knownProxies, new Date());
    this.#metrics.credentialExpiry.reset();
    for (const expiry of credentials.expiries) this.#metrics.credentialExpiry.set({ namespace: expiry.namespace, name: expiry.name }, expiry.seconds);
    await this.#credentialEvents(snapshot, credentials.findings, log);
    const credentialErrors = credentials.findings.filter((finding) => finding.severity === "error");
    const outcomes = [...this.#outcomes.values()].map((outcome) => ({ ...outcome, rejected: this.#options.xdsRejections?.(outcome.proxy) ?? [] }));
    const desired = computeStatuses(snapshot, outcomes, invalid, this.#source.inputs().services ?? [], credentialErrors, knownProxies);
    const result = await this.#statusWriter.sync(desired);
    for (const status of result.written) {
      this.#metrics.statusWrites.inc({ kind: status.kind });
      const summary = status.conditions.map((c) => `${c.type}=${c.status} (${c.reason})`).join(", ");
      log.info(`status ${status.kind} ${status.namespace}/${status.name}: ${summary}`, { resource: `${status.kind}/${status.namespace}/${status.name}` });
    }
    for (const { status, error } of result.failed) {
      this.#metrics.errors.inc({ stage: "status" });
      log.warn(`could not write status of ${status.kind} ${status.namespace}/${status.name}: ${describeError(error)}`, { resource: `${status.kind}/${status.namespace}/${status.name}` });
    }
    if (result.failed.length > 0) throw new Error(`${result.failed.length} status writes failed`);
  }

  /**
   * One Warning Event per Gateway, Secret and problem: credentials.ts' findings, and the
   * compiler's credential diagnostics on Gateways (missing Secret, PEM that does not parse, key
   * that does not match, no CA for MUTUAL).
   */
  async #credentialEvents(snapshot: Snapshot, findings: readonly CredentialFinding[], log: Logger): Promise<void> {
    const warnings: { gateway: string; reason: string; message: string; key: string }[] = findings.map((finding) => ({
      gateway: finding.gateway,
      reason: finding.reason,
      message: finding.message,
      key: `${finding.gateway}|${finding.secret.namespace}/${finding.secret.name}|${finding.reason}`,
    }));
    for (const outcome of this.#outcomes.values()) {
      for (const d of outcome.diagnostics) {
        if (d.kind !== "Gateway" || d.severity !== "error" || !/credentialName|Secret "|Secret [a-z0-9-]+\/|no CA for/.test(`${d.field} ${d.message}`)) continue;
        warnings.push({ gateway: `${d.namespace}/${d.name}`, reason: "InvalidCredential", message: `${d.field}: ${d.message}`, key: `${d.namespace}/${d.name}|${d.field}|InvalidCredential` });
      }
    }
    const current = new Set<string>();
    for (const warning of warnings) {
      if (current.has(warning.key)) continue;
      current.add(warning.key);
      const [namespace = "", name = ""] = warning.gateway.split("/");
      const gateway = snapshot.gateways.find((candidate) => (candidate.metadata.namespace ?? "default") === namespace && candidate.metadata.name === name);
      if (!gateway) continue;
      try {
        const sent = await this.#events.warnOn(
          { apiVersion: "networking.istio.io/v1", kind: "Gateway", namespace, name, uid: (gateway.metadata as { uid?: string }).uid },
          warning.reason,
          warning.message,
          warning.key,
        );
        if (sent) log.warn(`${warning.reason}: ${warning.message}`, { resource: `Gateway/${warning.gateway}` });
      } catch (error) {
        this.#metrics.errors.inc({ stage: "event" });
        log.warn(`could not record Event ${warning.reason}: ${describeError(error)}`, { resource: `Gateway/${warning.gateway}` });
      }
    }
    this.#events.clearExcept(current);
  }

  async #reconcileProxy(key: ProxyKey, log: Logger): Promise<void> {
    const deployment = this.#source.gatewayDeployments().find((candidate) => keyOf(candidate) === key);
    if (!deployment) {
      // Deleted: its objects go with it (ownerReference); forget what was published.
      const [namespace = "", name = ""] = key.split("/");
      this.#publisher.forget({ namespace, name });
      this.#events.clear({ namespace, name });
      this.#diagnosticsSeen.delete(key);
      this.#refusalSeen.delete(key);
      this.#outcomes.delete(key);
      this.#firstRound?.delete(key);
      this.#metrics.fileSubscriptions.remove({ proxy: key });
      for (const group of ["lds", "rds", "cds", "eds", "sds"]) {
        for (let shard = 0; shard < maxShardsPerGroup; shard++) this.#metrics.objectBytes.remove({ proxy: key, object: shard === 0 ? group : `${group}-${shard}` });
      }
      this.#options.onCompiled?.(key, undefined);
      log.info("gateway proxy gone; its published objects are garbage-collected with the Deployment", { proxy: key });
      return;
    }
    const compileStarted = performance.now();
    const snapshot = this.#currentSnapshot();
    const result = compileGateway(snapshot, deployment.proxy, this.#options.compileOptions ?? defaultCompileOptions);
    const outcome: ProxyOutcome & { portProblems?: ProxyOutcome["portProblems"] } = {
      proxy: key,
      gateways: snapshot.gateways.filter((gateway) => selectsProxy(gateway, deployment.proxy)).map((gateway) => `${gateway.metadata.namespace ?? "default"}/${gateway.metadata.name}`),
      diagnostics: result.diagnostics,
      clusterHosts: clusterHosts(result.resources.clusters.map((cluster) => cluster.name)),
    };
    const compileMs = performance.now() - compileStarted;
    this.#metrics.compileSeconds.observe({ proxy: key }, compileMs / 1000);
    // Where an apply's latency goes (bench/ads-apply.ts reads this line): snapshot + compile.
    log.debug(`compiled in ${compileMs.toFixed(1)} ms`, { compileMs });
    this.#logDiagnostics(key, result.diagnostics, log);
    this.#options.onCompiled?.(key, result.resources);
    if (!this.#mayWrite()) {
      // A standby: compiled (warm for a takeover, ADS served), nothing written.
      this.#outcomes.set(key, outcome);
      this.#firstRound?.delete(key);
      return;
    }
    outcome.portProblems = await this.#reconcileServicePorts(key, snapshot, deployment, log);

    const publishStarted = performance.now();
    const bootstrapYaml = gatewayBootstrapYaml({
      mode: this.#options.gatewayMode,
      agentSocket: this.#options.agentSocket,
      xdsAddress: this.#options.xdsProxyAddress,
      xdsTls: this.#options.xdsProxyTls,
      configDir: this.#options.proxyConfigDir,
      adminPort: this.#options.proxyAdminPort,
      statusPort: this.#options.proxyStatusPort,
      proxyName: deployment.name,
      proxyNamespace: deployment.namespace,
    });
    const planned = planPublish(result.resources, deployment, {
      configDir: this.#options.proxyConfigDir,
      bootstrapYaml,
      // Only files mode's Envoy watches files (one inotify instance each); over ADS there is no budget.
      maxFileSubscriptions: (this.#options.gatewayMode ?? "files") === "files" ? this.#options.maxFileSubscriptions : Number.MAX_SAFE_INTEGER,
      // In files mode Envoy reads the files (plain, one object per group); otherwise only the agent
      // does, so large groups may be compressed and sharded (ADR 0018).
      reader: (this.#options.gatewayMode ?? "files") === "files" ? "envoy" : "agent",
    });
    this.#metrics.fileSubscriptions.set({ proxy: key }, planned.ok ? planned.plan.fileSubscriptions : planned.fileSubscriptions);
    const sizes = planned.ok ? planned.plan.objects : planned.reason === "TooLarge" ? planned.objects : [];
    for (const { group, shard, bytes } of sizes) this.#metrics.objectBytes.set({ proxy: key, object: shard === 0 ? group : `${group}-${shard}` }, bytes);
    if (!planned.ok) {
      this.#outcomes.set(key, { ...outcome, refusal: `${planned.reason}: ${planned.message}` });
      await this.#refuse(key, deployment, planned.reason, planned.message, log);
      this.#firstRound?.delete(key);
      return;
    }
    const published = await this.#publisher.publish(planned.plan, deployment);
    this.#outcomes.set(key, outcome);
    this.#metrics.publishSeconds.observe({ proxy: key }, (performance.now() - publishStarted) / 1000);
    for (const write of published.writes) this.#metrics.publishes.inc({ proxy: key, object: write.group, result: "written" });
    for (const group of published.unchanged) this.#metrics.publishes.inc({ proxy: key, object: group, result: "unchanged" });
    if (this.#refusalSeen.delete(key)) this.#events.clear(deployment);
    if (published.writes.length > 0) {
      const described = published.writes.map((write) => `${write.name}${write.step === "written" ? "" : ` (${write.step})`} ${write.bytes} B`).join(", ");
      log.info(`published ${described}; ${planned.plan.fileSubscriptions} file subscriptions`, { proxy: key });
    } else {
      log.debug("published objects already up to date", { proxy: key });
    }
    this.#firstRound?.delete(key);
  }

  /** The exposing Service's pilotfish-owned ports follow this proxy's Gateways (service-ports.ts). */
  async #reconcileServicePorts(key: ProxyKey, snapshot: Snapshot, deployment: GatewayDeployment, log: Logger): Promise<ProxyOutcome["portProblems"]> {
    const result = await this.#servicePorts.reconcile(snapshot, deployment, this.#source.inputs().services ?? []);
    if (result.applied) {
      const ports = result.ports.map((port) => `${port.name}${port.nodePort ? ` (nodePort ${port.nodePort})` : ""}`).join(", ") || "none";
      log.info(`service ports applied to ${result.service}: pilotfish owns ${ports}`, { proxy: key });
      for (const problem of result.problems) log.warn(`service port: ${problem.message}`, { proxy: key, resource: `Gateway/${problem.gateway}` });
    }
    return result.problems;
  }

  async #refuse(key: ProxyKey, deployment: GatewayDeployment, reason: string, message: string, log: Logger): Promise<void> {
    this.#metrics.refusals.inc({ proxy: key, reason });
    const fingerprint = `${reason}: ${message}`;
    if (this.#refusalSeen.get(key) !== fingerprint) {
      this.#refusalSeen.set(key, fingerprint);
      log.warn(`not publishing (${reason}): ${message}`, { proxy: key });
    }
    try {
      await this.#events.warn(deployment, reason, message);
    } catch (error) {
      this.#metrics.errors.inc({ stage: "event" });
      log.warn(`could not record Event ${reason}: ${describeError(error)}`, { proxy: key });
    }
  }

  /** Logs the compiler's diagnostics for a proxy when they change (not on every recompile). */
  #logDiagnostics(key: ProxyKey, diagnostics: readonly Diagnostic[], log: Logger): void {
    const fingerprint = JSON.stringify(diagnostics);
    if (this.#diagnosticsSeen.get(key) === fingerprint) return;
    this.#diagnosticsSeen.set(key, fingerprint);
    for (const d of diagnostics) {
      const line = `${d.kind} ${d.namespace}/${d.name} ${d.field}: ${d.message}`;
      const fields = { proxy: key, resource: `${d.kind}/${d.namespace}/${d.name}` };
      if (d.severity === "error") log.warn(line, fields);
      else log.info(line, fields);
    }
  }
}
