import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OutputRing, runningProcesses, spawnManaged, stopManaged } from "../../support/processes.js";
import { waitFor } from "../../support/net.js";

describe("managed processes", () => {
  it("collect stdout and stderr and forget the process once it exits", async () => {
    const managed = spawnManaged(process.execPath, ["-e", "console.log('out'); console.error('err')"], { name: "echoer" });
    assert.ok(runningProcesses().includes(managed));
    const status = await managed.exited;
    assert.equal(status.code, 0);
    assert.match(managed.output.text(), /out\n/);
    assert.match(managed.output.text(), /err\n/);
    assert.ok(!runningProcesses().includes(managed));
  });

  it("stopManaged sends SIGTERM, then SIGKILL to a process that ignores it", async () => {
    const stubborn = spawnManaged(process.execPath, ["-e", "process.on('SIGTERM', () => console.log('ignored')); console.log('ready'); setInterval(() => {}, 1000)"]);
    await waitFor(() => stubborn.output.text().includes("ready"), { what: "the child to install its handler" });
    const started = Date.now();
    const status = await stopManaged(stubborn, 300);
    assert.equal(status.signal, "SIGKILL");
    assert.ok(Date.now() - started >= 290);
    assert.match(stubborn.output.text(), /ignored SIGTERM for 300 ms/);
  });

  it("a missing executable is reported, not thrown", async () => {
    const missing = spawnManaged("/nonexistent/binary", []);
    const status = await missing.exited;
    assert.equal(status.code, null);
    assert.match(missing.output.text(), /ENOENT/);
  });

  it("OutputRing keeps the last lines and says how many it dropped", () => {
    const ring = new OutputRing(2);
    ring.push("one\ntwo\nthr");
    ring.push("ee\nfour");
    assert.equal(ring.text(), "[... 1 earlier lines dropped ...]\ntwo\nthree\nfour\n");
  });
});
