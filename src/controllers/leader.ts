/**
 * Leader election over one coordination.k8s.io/v1 Lease (docs/adr/0008-leader-election.md):
 * client-go's protocol, so `kubectl get lease` reads the same way it does for kube-controller-manager.
 *
 * - A candidate reads the Lease; it takes it when the Lease is absent, has no holder (released by
 *   a leader that stopped cleanly) or has not changed for `leaseDuration` as measured on this
 *   process's own monotonic clock since it last saw the record change (never the holder's
 *   `renewTime`: clocks of two machines are not compared). The write carries the read
 *   resourceVersion, so of two candidates exactly one wins (the other gets 409).
 * - The leader renews every `retryPeriod`. It may write only while its last successful renewal
 *   *started* less than `renewDeadline` ago: `isLeader()` checks that on every call, so a leader cut
 *   off from the apiserver stops writing at that instant, not when a timer notices; and since
 *   `renewDeadline < leaseDuration`, it has stopped before any standby can take over.
 * - Standbys also watch the Lease: a release (holder cleared) is taken within one round trip,
 *   and the next attempt is timed to the moment the observed record expires, not to the next poll.
 * - `release()` (SIGTERM, after in-flight writes are done) clears the holder, so a standby takes
 *   over at once instead of after the lease duration.
 */
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import { Watch } from "@kubernetes/client-node";
import type { KubeConfig } from "@kubernetes/client-node";
import { KubeApiError } from "../sources/kube/rest.js";
import type { KubeObject, KubeRest } from "../sources/kube/rest.js";
import type { Logger } from "./log.js";

export interface LeaderElectionTiming {
  /** How long standbys wait, after the record last changed, before taking the Lease. */
  leaseDurationMs: number;
  /** How long a leader keeps writing after its last successful renewal started. */
  renewDeadlineMs: number;
  /** Between two attempts to acquire or renew. */
  retryPeriodMs: number;
}

/** client-go's and kube-controller-manager's defaults. */
export const defaultLeaderElectionTiming: LeaderElectionTiming = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };
export const defaultLeaseName = "pilotfish";

/** The three must nest (client-go's rule): a problem, or undefined. */
export function timingProblem(timing: LeaderElectionTiming): string | undefined {
  if (timing.leaseDurationMs <= timing.renewDeadlineMs) return "--leader-elect-lease-duration must be longer than --leader-elect-renew-deadline";
  if (timing.renewDeadlineMs <= timing.retryPeriodMs * 1.2) return "--leader-elect-renew-deadline must be longer than 1.2 × --leader-elect-retry-period";
  if (timing.retryPeriodMs <= 0) return "--leader-elect-retry-period must be positive";
  return undefined;
}

/** client-go's identity: the host name (a pod's name in a pod) plus a unique suffix. */
export function defaultIdentity(): string {
  return `${hostname()}_${randomUUID()}`;
}

/** What the rest of the operator may ask: may I write now? */
export interface Leadership {
  isLeader(): boolean;
}

export interface LeaderElectorOptions extends LeaderElectionTiming {
  /** Not write-gated: the Lease is the one object every replica writes. */
  rest: KubeRest;
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  logger: Logger;
  onStartedLeading?(): void;
  onStoppedLeading?(): void;
  /** Monotonic milliseconds (tests may drive it). */
  now?: () => number;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

type Lease = KubeObject & { spec?: LeaseSpec };

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export class LeaderElector implements Leadership {
  readonly #options: LeaderElectorOptions;
  readonly #now: () => number;
  readonly #path: string;
  #leading = false;
  /** Monotonic time at which the last successful acquire/renew request was sent. */
  #renewedAt = Number.NEGATIVE_INFINITY;
  /** The last Lease record seen and when (this process's clock) it was first seen. */
  #observed: { record: string; holder: string; durationMs: number; at: number } | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  #watch: AbortController | undefined;
  #watchRetry: ReturnType<typeof setTimeout> | undefined;
  #attempt: Promise<void> | undefined;
  #stopped = false;

  constructor(options: LeaderElectorOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(options.namespace)}/leases/${encodeURIComponent(options.name)}`;
  }

  get identity(): string {
    return this.#options.identity;
  }

  isLeader(): boolean {
    return this.#leading && this.#now() - this.#renewedAt < this.#options.renewDeadlineMs;
  }

  /** The holder as last seen ("" when released or not yet read). */
  get holder(): string {
    return this.#observed?.holder ?? "";
  }

  /**
   * Starts electing; resolves after the first attempt (won or lost, errors included), so an
   * operator started after it does its first reconcile round in its real role: a fresh leader's
   * first round is its publish decision, not a standby's compile.
   */
  async start(): Promise<void> {
    this.#stopped = false;
    this.#options.logger.info(
      `leader election: candidate ${this.#options.identity} for Lease ${this.#options.namespace}/${this.#options.name} ` +
        `(lease ${this.#options.leaseDurationMs} ms, renew deadline ${this.#options.renewDeadlineMs} ms, retry ${this.#options.retryPeriodMs} ms)`,
    );
    this.#startWatch();
    await this.#tick();
  }

  /**
   * Stops electing; when leading, clears the holder so a standby takes over at once. Call after
   * in-flight writes have finished: from here on this process writes nothing.
   */
  async release(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#deadline);
    clearTimeout(this.#watchRetry);
    this.#watch?.abort();
    await this.#attempt;
    const wasLeader = this.isLeader();
    this.#setLeading(false, "released");
    if (!wasLeader) return;
    try {
      const lease = await this.#options.rest.get<Lease>(this.#path);
      if (!lease || lease.spec?.holderIdentity !== this.#options.identity) return;
      const now = microTime(new Date());
      await this.#options.rest.request("PUT", this.#path, {
        body: { ...lease, spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1, acquireTime: now, renewTime: now } },
        timeoutMs: this.#options.renewDeadlineMs,
      });
      this.#options.logger.info(`leader election: released Lease ${this.#options.namespace}/${this.#options.name}`);
    } catch (error) {
      this.#options.logger.warn(`leader election: could not release the Lease (a standby takes over when it expires): ${(error as Error).message}`);
    }
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), Math.max(0, delayMs));
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    if (this.#attempt) return;
    const run = this.#tryAcquireOrRenew();
    this.#attempt = run;
    await run;
    this.#attempt = undefined;
    if (this.#stopped) return;
    // A standby tries again when the observed record would expire if sooner than the next poll.
    let delay = this.#options.retryPeriodMs;
    if (!this.#leading && this.#observed && this.#observed.holder !== "") {
      const expiresIn = this.#observed.at + this.#observed.durationMs - this.#now();
      if (expiresIn >= 0 && expiresIn < delay) delay = expiresIn + 1;
    }
    this.#schedule(delay);
  }

  async #tryAcquireOrRenew(): Promise<void> {
    const started = this.#now();
    const rest = this.#options.rest;
    // A request must not outlive the deadline it is trying to meet.
    const timeoutMs = Math.max(500, this.#leading ? this.#renewedAt + this.#options.renewDeadlineMs - started : this.#options.renewDeadlineMs);
    try {
      const lease = await rest.request("GET", this.#path, { timeoutMs }).catch((error: unknown) => {
        if (error instanceof KubeApiError && error.statusCode === 404) return undefined;
        throw error;
      }) as Lease | undefined;
      const wall = microTime(new Date());
      const durationSeconds = Math.ceil(this.#options.leaseDurationMs / 1000);
      if (!lease) {
        const created = (await rest.create(this.#path.replace(/\/[^/]+$/, ""), {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: this.#options.name, namespace: this.#options.namespace, labels: { "app.kubernetes.io/name": "pilotfish" } },
          spec: { holderIdentity: this.#options.identity, leaseDurationSeconds: durationSeconds, acquireTime: wall, renewTime: wall, leaseTransitions: 0 },
        })) as Lease;
        this.#observe(created, started);
        this.#renewed(started);
        return;
      }
      this.#observe(lease, started);
      const spec = lease.spec ?? {};
      const holder = spec.holderIdentity ?? "";
      const mine = holder === this.#options.identity;
      const observed = this.#observed;
      if (!mine && holder !== "" && observed && started < observed.at + observed.durationMs) {
        if (this.#leading) this.#setLeading(false, `Lease taken by ${holder}`);
        return;
      }
      const updated = (await rest.request("PUT", this.#path, {
        body: {
          ...lease,
          spec: {
            ...spec,
            holderIdentity: this.#options.identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: mine ? (spec.acquireTime ?? wall) : wall,
            renewTime: wall,
            leaseTransitions: (spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
          },
        },
        timeoutMs,
      })) as Lease;
      this.#observe(updated, started);
      this.#renewed(started);
    } catch (error) {
      if (error instanceof KubeApiError && error.statusCode === 409) {
        // Another candidate wrote first: it leads (or renewed); this one reads again next time.
        if (this.#leading) this.#setLeading(false, "Lease changed under this leader (409)");
        return;
      }
      const leftMs = Math.round(this.#renewedAt + this.#options.renewDeadlineMs - this.#now());
      this.#options.logger.warn(
        `leader election: ${this.#leading ? "renew" : "acquire"} failed${this.#leading ? ` (${Math.max(0, leftMs)} ms left before writes stop)` : ""}: ${(error as Error).message}`,
      );
      if (this.#leading && !this.isLeader()) this.#setLeading(false, "renew deadline passed");
    }
  }

  #observe(lease: Lease, at: number): void {
    const spec = lease.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity ?? "", spec.renewTime ?? "", spec.acquireTime ?? "", spec.leaseTransitions ?? 0, spec.leaseDurationSeconds ?? 0]);
    if (this.#observed?.record === record) return;
    this.#observed = {
      record,
      holder: spec.holderIdentity ?? "",
      durationMs: (spec.leaseDurationSeconds ?? Math.ceil(this.#options.leaseDurationMs / 1000)) * 1000,
      at,
    };
  }

  #renewed(startedAt: number): void {
    this.#renewedAt = startedAt;
    // Leadership ends exactly renewDeadline after this renewal started unless another succeeds.
    clearTimeout(this.#deadline);
    this.#deadline = setTimeout(() => {
      if (this.#leading && !this.isLeader()) this.#setLeading(false, "renew deadline passed");
    }, Math.max(0, startedAt + this.#options.renewDeadlineMs - this.#now()) + 1);
    this.#setLeading(true, "acquired");
  }

  #setLeading(leading: boolean, why: string): void {
    if (this.#leading === leading) return;
    this.#leading = leading;
    if (leading) {
      this.#options.logger.info(`leader election: ${this.#options.identity} is the leader (${why}); writing`);
      this.#options.onStartedLeading?.();
    } else {
      clearTimeout(this.#deadline);
      this.#options.logger.warn(`leader election: ${this.#options.identity} stopped leading (${why}); not writing`);
      this.#options.onStoppedLeading?.();
    }
  }

  /** A watch on the one Lease: seeing changes as they happen makes expiry and release timely. */
  #startWatch(): void {
    if (this.#stopped) return;
    const collection = this.#path.replace(/\/[^/]+$/, "");
    new Watch(this.#options.kubeConfig)
      .watch(
        collection,
        { fieldSelector: `metadata.name=${this.#options.name}` },
        (phase: string, object: Lease) => {
          if (this.#stopped || (phase !== "ADDED" && phase !== "MODIFIED" && phase !== "DELETED")) return;
          if (phase === "DELETED") {
            this.#observed = undefined;
            if (!this.#leading) this.#schedule(0);
            return;
          }
          this.#options.logger.debug(`leader election: Lease ${phase.toLowerCase()}, holder ${object.spec?.holderIdentity || "none"}`);
          this.#observe(object, this.#now());
          if (!this.#leading && (object.spec?.holderIdentity ?? "") === "") this.#schedule(0);
        },
        (error: unknown) => this.#rewatch(error),
      )
      .then(
        (controller) => {
          this.#watch = controller;
          if (this.#stopped) controller.abort();
        },
        (error: unknown) => this.#rewatch(error),
      );
  }

  #rewatch(error: unknown): void {
    if (this.#stopped) return;
    // Polling goes on meanwhile: a lost watch only makes takeovers up to one retry period later.
    if (error) this.#options.logger.debug(`leader election: Lease watch ended (${error instanceof Error ? error.message : String(error)}); watching again in ${this.#options.retryPeriodMs} ms`);
    clearTimeout(this.#watchRetry);
    this.#watchRetry = setTimeout(() => this.#startWatch(), this.#options.retryPeriodMs);
    this.#watchRetry.unref();
  }
}
