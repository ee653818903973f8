/** /healthz's event-loop heartbeat with a driven clock: stalls fail it for a while, then it recovers. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { EventLoopHeartbeat } from "../../../src/controllers/liveness.js";

describe("EventLoopHeartbeat", () => {
  test("beats on time: live; one late beat beyond the stall limit: not live for the memory window", () => {
    let now = 0;
    const heartbeat = new EventLoopHeartbeat({ intervalMs: 1000, stallMs: 10_000, memoryMs: 30_000, now: () => now });
    for (let i = 0; i < 5; i++) {
      now += 1000;
      heartbeat.beat();
    }
    assert.deepEqual(heartbeat.live(), { live: true, reason: "ok" });
    // A 2.5 s synchronous compile: late, but under the limit.
    now += 3500;
    heartbeat.beat();
    assert.equal(heartbeat.live().live, true);
    // Blocked 12 s.
    now += 13_000;
    heartbeat.beat();
    assert.deepEqual(heartbeat.live(), { live: false, reason: "event loop stalled 12000 ms, 0 s ago" });
    for (let i = 0; i < 29; i++) {
      now += 1000;
      heartbeat.beat();
    }
    assert.equal(heartbeat.live().live, false, "still within the memory window");
    now += 1000;
    heartbeat.beat();
    assert.deepEqual(heartbeat.live(), { live: true, reason: "ok" });
  });

  test("a beat that has not fired for longer than the limit: not live right away", () => {
    let now = 0;
    const heartbeat = new EventLoopHeartbeat({ intervalMs: 1000, stallMs: 10_000, now: () => now });
    now = 11_500;
    assert.deepEqual(heartbeat.live(), { live: false, reason: "event loop stalled: heartbeat 10500 ms late" });
  });
});
