/**
 * A keyed, level-based work queue with client-go's contract, a leading-edge debounce and per-key
 * back-off, running handlers on p-queue (bounded concurrency).
 *
 * Contract (client-go's workqueue, see docs/adr/0002-work-queue-and-debounce.md):
 * - a key means "recompute this", never "apply this event": adding a key that is already waiting
 *   or queued changes nothing (it will read the newest world when it runs);
 * - a key is never handled twice at once; adding it while it is being handled guarantees exactly
 *   one more run after the current one;
 * - a failed run is retried after a per-key exponential back-off (capped); a success forgets
 *   the key's failures.
 *
 * Debounce: the first add after a quiet period runs at once (an idle cluster gets its change
 * published immediately); adds that follow within `quietMs` coalesce into one run `quietMs` after
 * the last of them, but never later than `maxDelayMs` after the first (a steady stream of changes
 * cannot starve a key).
 *
 * All timing goes through an injectable clock, so the logic is unit-tested without wall time.
 */
import PQueue from "p-queue";

export interface Clock {
  now(): number;
  setTimer(callback: () => void, delayMs: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer: (callback, delayMs) => setTimeout(callback, Math.max(0, delayMs)),
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface WorkQueueOptions {
  /** Quiet time that ends a burst (default 100 ms). */
  quietMs?: number;
  /** Longest a pending change waits for a burst to end (default 500 ms). */
  maxDelayMs?: number;
  /** First retry delay after a failure (default 50 ms); doubles per consecutive failure. */
  backoffBaseMs?: number;
  /** Retry delay cap (default 30 s). */
  backoffMaxMs?: number;
  /** Keys handled at the same time (default 2). */
  concurrency?: number;
  clock?: Clock;
}

/** What a handler run tells observers (metrics, logs). */
export interface RunReport<K> {
  key: K;
  ok: boolean;
  error?: unknown;
  /** Consecutive failures of this key so far (0 after a success). */
  failures: number;
  /** When a failed key runs again, in ms from now. */
  retryInMs?: number;
}

type KeyState =
  | { phase: "waiting"; dueAt: number; timer: unknown; firstPendingAt: number }
  | { phase: "queued" }
  | { phase: "processing"; again: boolean; firstPendingAt?: number };

export class WorkQueue<K extends string> {
  readonly #states = new Map<K, KeyState>();
  readonly #lastAddAt = new Map<K, number>();
  readonly #failures = new Map<K, number>();
  readonly #runner: PQueue;
  readonly #clock: Clock;
  readonly #quietMs: number;
  readonly #maxDelayMs: number;
  readonly #backoffBaseMs: number;
  readonly #backoffMaxMs: number;
  readonly #handler: (key: K) => Promise<void>;
  readonly #onRun: (report: RunReport<K>) => void;
  #shuttingDown = false;

  constructor(handler: (key: K) => Promise<void>, options: WorkQueueOptions = {}, onRun: (report: RunReport<K>) => void = () => {}) {
    this.#handler = handler;
    this.#onRun = onRun;
    this.#clock = options.clock ?? systemClock;
    this.#quietMs = options.quietMs ?? 100;
    this.#maxDelayMs = Math.max(options.maxDelayMs ?? 500, this.#quietMs);
    this.#backoffBaseMs = options.backoffBaseMs ?? 50;
    this.#backoffMaxMs = options.backoffMaxMs ?? 30_000;
    this.#runner = new PQueue({ concurrency: options.concurrency ?? 2 });
  }

  /** Keys waiting for their debounce/back-off timer or for a free worker (not those running). */
  depth(): number {
    let count = 0;
    for (const state of this.#states.values()) if (state.phase !== "processing" || state.again) count++;
    return count;
  }

  /** Consecutive failures of a key (0 when it last succeeded or never ran). */
  failures(key: K): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Asks for `key` to be recomputed (debounced as described above). */
  add(key: K): void {
    if (this.#shuttingDown) return;
    const now = this.#clock.now();
    const lastAdd = this.#lastAddAt.get(key);
    this.#lastAddAt.set(key, now);
    const state = this.#states.get(key);
    if (!state) {
      if (lastAdd === undefined || now - lastAdd >= this.#quietMs) this.#enqueue(key);
      else this.#wait(key, now, Math.min(now + this.#quietMs, now + this.#maxDelayMs));
      return;
    }
    switch (state.phase) {
      case "queued":
        return;
      case "processing":
        state.again = true;
        state.firstPendingAt ??= now;
        return;
      case "waiting":
        this.#wait(key, state.firstPendingAt, Math.min(now + this.#quietMs, state.firstPendingAt + this.#maxDelayMs));
        return;
    }
  }

  /** Resolves when nothing is waiting, queued or running (timers included). */
  async drained(): Promise<void> {
    while (this.#states.size > 0 || this.#runner.size > 0 || this.#runner.pending > 0) {
      await this.#runner.onIdle();
      if (this.#states.size > 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Stops timers and new work; resolves when running handlers have finished. */
  async shutDown(): Promise<void> {
    this.#shuttingDown = true;
    for (const [key, state] of this.#states) {
      if (state.phase === "waiting") {
        this.#clock.clearTimer(state.timer);
        this.#states.delete(key);
      }
    }
    this.#runner.clear();
    await this.#runner.onIdle();
  }

  #wait(key: K, firstPendingAt: number, dueAt: number): void {
    const previous = this.#states.get(key);
    if (previous?.phase === "waiting") this.#clock.clearTimer(previous.timer);
    const now = this.#clock.now();
    if (dueAt <= now) {
      this.#enqueue(key);
      return;
    }
    const timer = this.#clock.setTimer(() => {
      const current = this.#states.get(key);
      if (current?.phase === "waiting" && current.timer === timer) this.#enqueue(key);
    }, dueAt - now);
    this.#states.set(key, { phase: "waiting", dueAt, timer, firstPendingAt });
  }

  #enqueue(key: K): void {
    if (this.#shuttingDown) {
      this.#states.delete(key);
      return;
    }
    this.#states.set(key, { phase: "queued" });
    void this.#runner.add(() => this.#run(key));
  }

  async #run(key: K): Promise<void> {
    const state: KeyState = { phase: "processing", again: false };
    this.#states.set(key, state);
    let error: unknown;
    let ok = true;
    try {
      await this.#handler(key);
    } catch (caught) {
      ok = false;
      error = caught;
    }
    this.#states.delete(key);
    const now = this.#clock.now();
    if (ok) {
      this.#failures.delete(key);
      this.#onRun({ key, ok, failures: 0 });
      if (state.again) this.#afterBurst(key, state.firstPendingAt ?? now);
      return;
    }
    const failures = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, failures);
    const retryInMs = Math.min(this.#backoffBaseMs * 2 ** (failures - 1), this.#backoffMaxMs);
    this.#onRun({ key, ok, error, failures, retryInMs });
    if (this.#shuttingDown) return;
    // Level-based: a change that arrived meanwhile may fix the failure, so the earlier time wins.
    const debouncedAt = state.again ? this.#debouncedDue(key, state.firstPendingAt ?? now) : Infinity;
    this.#wait(key, now, Math.min(now + retryInMs, debouncedAt));
  }

  /** Adds that arrived while the key was running: one more run, debounced like any burst. */
  #afterBurst(key: K, firstPendingAt: number): void {
    if (this.#shuttingDown) return;
    this.#wait(key, firstPendingAt, this.#debouncedDue(key, firstPendingAt));
  }

  #debouncedDue(key: K, firstPendingAt: number): number {
    const lastAdd = this.#lastAddAt.get(key) ?? firstPendingAt;
    return Math.min(lastAdd + this.#quietMs, firstPendingAt + this.#maxDelayMs);
  }
}
