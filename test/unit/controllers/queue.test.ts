import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { WorkQueue } from "../../../src/controllers/queue.js";
import type { Clock, RunReport } from "../../../src/controllers/queue.js";

/** A clock that moves only when the test says so. */
class FakeClock implements Clock {
  time = 0;
  #timers = new Map<number, { at: number; callback: () => void }>();
  #next = 1;
  now(): number {
    return this.time;
  }
  setTimer(callback: () => void, delayMs: number): unknown {
    const id = this.#next++;
    this.#timers.set(id, { at: this.time + delayMs, callback });
    return id;
  }
  clearTimer(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.#timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.#timers.delete(due[0]);
      this.time = due[1].at;
      due[1].callback();
    }
    this.time = end;
  }
  pending(): number {
    return this.#timers.size;
  }
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
};

function recorder(clock: FakeClock, behaviour: (key: string, run: number) => Promise<void> | void = () => {}) {
  const runs: { key: string; at: number }[] = [];
  const reports: RunReport<string>[] = [];
  const handler = async (key: string): Promise<void> => {
    runs.push({ key, at: clock.now() });
    await behaviour(key, runs.length);
  };
  return { runs, reports, onRun: (report: RunReport<string>) => reports.push(report), handler };
}

describe("WorkQueue", () => {
  test("the first change after a quiet period runs at once", async () => {
    const clock = new FakeClock();
    const r = recorder(clock);
    const queue = new WorkQueue(r.handler, { clock, quietMs: 100, maxDelayMs: 500 }, r.onRun);
    queue.add("a");
    await settle();
    assert.deepEqual(r.runs, [{ key: "a", at: 0 }]);
    clock.advance(1000);
    queue.add("a");
    await settle();
    assert.deepEqual(r.runs.map((run) => run.at), [0, 1000]);
  });

  test("a burst coalesces into one run, quietMs after its last change", async () => {
    const clock = new FakeClock();
    const r = recorder(clock);
    const queue = new WorkQueue(r.handler, { clock, quietMs: 100, maxDelayMs: 500 }, r.onRun);
    queue.add("a");
    await settle();
    for (let i = 0; i < 5; i++) {
      clock.advance(20);
      queue.add("a");
    }
    await settle();
    assert.equal(r.runs.length, 1);
    clock.advance(99);
    await settle();
    assert.equal(r.runs.length, 1);
    clock.advance(1);
    await settle();
    assert.deepEqual(r.runs.map((run) => run.at), [0, 200]);
  });

  test("a steady stream of changes still runs every maxDelayMs", async () => {
    const clock = new FakeClock();
    const r = recorder(clock);
    const queue = new WorkQueue(r.handler, { clock, quietMs: 100, maxDelayMs: 300 }, r.onRun);
    queue.add("a");
    await settle();
    for (let i = 0; i < 40; i++) {
      clock.advance(50);
      queue.add("a");
      await settle();
    }
    // first change at 0 runs at once; the stream starting at 50 is cut at 350, then every 300 ms
    // (the add at 350 arrives while that run is processing, so it opens the next burst).
    assert.deepEqual(r.runs.map((run) => run.at), [0, 350, 650, 950, 1250, 1550, 1850]);
  });

  test("keys are independent and de-duplicated", async () => {
    const clock = new FakeClock();
    const r = recorder(clock);
    const queue = new WorkQueue(r.handler, { clock, quietMs: 100 }, r.onRun);
    queue.add("a");
    queue.add("b");
    queue.add("b");
    await settle();
    assert.deepEqual(r.runs.map((run) => run.key).sort(), ["a", "b"]);
  });

  test("an add during processing guarantees exactly one more run, never concurrent", async () => {
    const clock = new FakeClock();
    let release: () => void = () => {};
    let active = 0;
    let maxActive = 0;
    const r = recorder(clock, async (_key, run) => {
      active++;
      maxActive = Math.max(maxActive, active);
      if (run === 1) await new Promise<void>((resolve) => (release = resolve));
      active--;
    });
    const queue = new WorkQueue(r.handler, { clock, quietMs: 100, concurrency: 4 }, r.onRun);
    queue.add("a");
    await settle();
    queue.add("a");
    queue.add("a");
    assert.equal(queue.depth(), 1);
    await settle();
    assert.equal(r.runs.length, 1);
    release();
    await settle();
    clock.advance(100);
    await settle();
    assert.equal(r.runs.length, 2);
    assert.equal(maxActive, 1);
    clock.advance(10_000);
    await settle();
    assert.equal(r.runs.length, 2);
  });

  test("failures retry with capped exponential back-off; success forgets", async () => {
    const clock = new FakeClock();
    const r = recorder(clock, (_key, run) => {
      if (run <= 5) throw new Error(`boom ${run}`);
    });
    const queue = new WorkQueue(r.handler, { clock, quietMs: 100, backoffBaseMs: 50, backoffMaxMs: 300 }, r.onRun);
    queue.add("a");
    for (let i = 0; i < 10; i++) {
      await settle();
      clock.advance(25);
    }
    for (let i = 0; i < 100; i++) {
      await settle();
      clock.advance(25);
    }
    assert.deepEqual(r.runs.map((run) => run.at), [0, 50, 150, 350, 650, 950]);
    assert.deepEqual(r.reports.map((report) => report.retryInMs), [50, 100, 200, 300, 300, undefined]);
    assert.equal(queue.failures("a"), 0);
  });

  test("concurrency is bounded", async () => {
    const clock = new FakeClock();
    const releases: (() => void)[] = [];
    let active = 0;
    let maxActive = 0;
    const r = recorder(clock, async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((resolve) => releases.push(resolve));
      active--;
    });
    const queue = new WorkQueue(r.handler, { clock, concurrency: 2 }, r.onRun);
    for (const key of ["a", "b", "c", "d"]) queue.add(key);
    await settle();
    assert.equal(maxActive, 2);
    assert.equal(queue.depth(), 2);
    while (releases.length > 0) {
      releases.shift()?.();
      await settle();
    }
    assert.equal(r.runs.length, 4);
    assert.equal(maxActive, 2);
  });

  test("shutDown drops waiting keys and refuses new ones", async () => {
    const clock = new FakeClock();
    const r = recorder(clock);
    const queue = new WorkQueue(r.handler, { clock, quietMs: 100 }, r.onRun);
    queue.add("a");
    await settle();
    clock.advance(10);
    queue.add("a");
    await queue.shutDown();
    assert.equal(clock.pending(), 0);
    queue.add("b");
    clock.advance(1000);
    await settle();
    assert.equal(r.runs.length, 1);
  });
});
