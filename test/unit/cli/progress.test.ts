/**
 * The CLI's progress reporter: on a terminal, nothing before 1 s, then a spinner line rewritten
 * in place and erased at the end; off a terminal, nothing unless --verbose, then one timestamped
 * line per phase. A fake clock drives time, so nothing here waits.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createProgress } from "../../../src/cli/progress.js";
import type { ProgressClock } from "../../../src/cli/progress.js";

/** A clock that moves only when told, firing the repeating timers it passes. */
function fakeClock(): ProgressClock & { advance(ms: number): void; timers(): number } {
  let now = 0;
  const timers = new Set<{ every: number; next: number; tick: () => void }>();
  return {
    now: () => now,
    every(ms, tick) {
      const timer = { every: ms, next: now + ms, tick };
      timers.add(timer);
      return { stop: () => timers.delete(timer) };
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = [...timers].filter((timer) => timer.next <= end).sort((a, b) => a.next - b.next)[0];
        if (!due) break;
        now = due.next;
        due.next += due.every;
        due.tick();
      }
      now = end;
    },
    timers: () => timers.size,
  };
}

function capture(isTTY: boolean): { stream: { isTTY: boolean; write(text: string): boolean }; text(): string } {
  let written = "";
  return {
    stream: {
      isTTY,
      write(text: string) {
        written += text;
        return true;
      },
    },
    text: () => written,
  };
}

describe("progress on a terminal", () => {
  test("an operation that ends within 1 s prints nothing at all", () => {
    const clock = fakeClock();
    const out = capture(true);
    const progress = createProgress({ stream: out.stream, clock, color: false });
    progress.phase("reading the cluster");
    clock.advance(600);
    progress.phase("compiling");
    clock.advance(399);
    progress.done();
    assert.equal(out.text(), "");
    assert.equal(clock.timers(), 0, "the spinner's timer is stopped");
  });

  test("after 1 s: one spinner line rewritten in place with the phase and the time, erased at the end", () => {
    const clock = fakeClock();
    const out = capture(true);
    const progress = createProgress({ stream: out.stream, clock, color: false });
    progress.phase("reading the cluster");
    clock.advance(1000);
    assert.equal(out.text(), "\r\x1b[K⠋ reading the cluster 1.0s");
    clock.advance(100);
    progress.phase("port-forward to istio-system/pilotfish-0");
    assert.equal(out.text().split("\r\x1b[K").filter(Boolean).at(-1), "⠹ port-forward to istio-system/pilotfish-0 1.1s");
    assert.ok(!out.text().includes("\n"), "the line is rewritten in place, never a new line");
    progress.done();
    assert.ok(out.text().endsWith("\r\x1b[K"), "the spinner line is erased: the terminal keeps only the result");
    assert.equal(clock.timers(), 0);
    const before = out.text();
    clock.advance(5000);
    progress.done();
    assert.equal(out.text(), before, "nothing after done");
  });

  test("a message printed meanwhile goes above the spinner, which is drawn again", () => {
    const clock = fakeClock();
    const out = capture(true);
    const progress = createProgress({ stream: out.stream, clock, color: false });
    progress.phase("compiling");
    clock.advance(1200);
    progress.print("warning: something\n");
    assert.ok(out.text().endsWith("\r\x1b[Kwarning: something\n\r\x1b[K⠸ compiling 1.2s"), JSON.stringify(out.text()));
    progress.done();
  });

  test("a phase longer than the terminal is cut to one row (erasing a wrapped line would leave rows behind)", () => {
    const clock = fakeClock();
    const out = capture(true);
    const progress = createProgress({ stream: { ...out.stream, columns: 40 }, clock, color: false });
    progress.phase("listing Gateways, VirtualServices, DestinationRules and Services at https://127.0.0.1:6443");
    clock.advance(1000);
    const line = out.text().replace("\r\x1b[K", "");
    assert.equal(line, "⠋ listing Gateways, VirtualServic… 1.0s");
    assert.ok([...line].length < 40);
    progress.done();
  });

  test("colour (dim time) only when asked, and only ever on a terminal", () => {
    const clock = fakeClock();
    const out = capture(true);
    const progress = createProgress({ stream: out.stream, clock, color: true });
    progress.phase("starting Envoy");
    clock.advance(1000);
    assert.ok(out.text().endsWith("starting Envoy \x1b[2m1.0s\x1b[0m"), JSON.stringify(out.text()));
    progress.done();
  });
});

describe("progress off a terminal", () => {
  test("without --verbose: nothing, however long it takes (stdout and stderr stay clean)", () => {
    const clock = fakeClock();
    const out = capture(false);
    const progress = createProgress({ stream: out.stream, clock });
    progress.phase("reading the cluster");
    clock.advance(60_000);
    progress.done();
    assert.equal(out.text(), "");
    assert.equal(clock.timers(), 0, "no timer is even started");
    progress.print("a diagnostic\n");
    assert.equal(out.text(), "a diagnostic\n", "messages still go through");
  });

  test("with --verbose: one plain line per phase with the time since the start, no escape codes", () => {
    for (const isTTY of [false, true]) {
      const clock = fakeClock();
      const out = capture(isTTY);
      const progress = createProgress({ stream: out.stream, clock, verbose: true });
      progress.phase("reading the cluster");
      clock.advance(1234);
      progress.phase("compiling 1 gateway");
      clock.advance(10);
      progress.done();
      progress.phase("after the end");
      assert.equal(out.text(), "[  0.0s] reading the cluster\n[  1.2s] compiling 1 gateway\n");
    }
  });
});
