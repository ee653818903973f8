/**
 * /healthz's "event loop responsive": the probe's own answer already proves the loop runs (a
 * blocked loop fails the probe by its timeout), but a loop that keeps stalling between probes
 * would still pass. A 1 s heartbeat measures how late each beat fires; a beat later than
 * `stallMs` marks the process unhealthy for `memoryMs`, so repeated stalls fail repeated probes
 * (kubelet restarts after its failureThreshold) while one long compile does not.
 */
export interface LivenessOptions {
  intervalMs?: number;
  stallMs?: number;
  memoryMs?: number;
  now?: () => number;
}

export class EventLoopHeartbeat {
  readonly #intervalMs: number;
  readonly #stallMs: number;
  readonly #memoryMs: number;
  readonly #now: () => number;
  #lastBeat: number;
  #lastStall: { at: number; lateMs: number } | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: LivenessOptions = {}) {
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#stallMs = options.stallMs ?? 10_000;
    this.#memoryMs = options.memoryMs ?? 30_000;
    this.#now = options.now ?? (() => performance.now());
    this.#lastBeat = this.#now();
  }

  start(): this {
    this.#lastBeat = this.#now();
    this.#timer = setInterval(() => this.beat(), this.#intervalMs);
    this.#timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** One heartbeat (the timer's callback; tests call it with a driven clock). */
  beat(): void {
    const now = this.#now();
    const lateMs = now - this.#lastBeat - this.#intervalMs;
    if (lateMs > this.#stallMs) this.#lastStall = { at: now, lateMs };
    this.#lastBeat = now;
  }

  live(): { live: boolean; reason: string } {
    const now = this.#now();
    const pendingMs = now - this.#lastBeat - this.#intervalMs;
    if (pendingMs > this.#stallMs) return { live: false, reason: `event loop stalled: heartbeat ${Math.round(pendingMs)} ms late` };
    if (this.#lastStall && now - this.#lastStall.at < this.#memoryMs) {
      return { live: false, reason: `event loop stalled ${Math.round(this.#lastStall.lateMs)} ms, ${Math.round((now - this.#lastStall.at) / 1000)} s ago` };
    }
    return { live: true, reason: "ok" };
  }
}
