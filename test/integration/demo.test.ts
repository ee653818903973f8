/**
 * `make demo` end to end: start the demo, run every curl line it prints exactly as printed,
 * check each answers with the status its comment promises, then Ctrl-C (SIGINT) and check that
 * everything stopped and the temporary folder is gone.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, waitFor } from "../support/net.js";
import { benchTool, repoRoot } from "../support/paths.js";
import { spawnManaged, stopManaged } from "../support/processes.js";
import type { ManagedProcess } from "../support/processes.js";

const run = promisify(execFile);

function portOpen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.destroy();
      done(true);
    });
    socket.on("error", () => done(false));
  });
}

let demo: ManagedProcess | undefined;
after(async () => {
  if (demo) await stopManaged(demo);
});

test("make demo: every printed curl line works as printed; Ctrl-C stops everything", async () => {
  const httpPort = await freePort();
  const httpsPort = await freePort();
  demo = spawnManaged(process.execPath, ["--import", "tsx", join(repoRoot, "scripts", "demo.ts")], {
    name: "demo",
    cwd: repoRoot,
    env: { ...process.env, DEMO_HTTP_PORT: String(httpPort), DEMO_HTTPS_PORT: String(httpsPort), ENVOY: benchTool("envoy") },
  });
  const started = demo;
  await waitFor(
    async () => {
      if (started.exitStatus) throw new Error(`the demo exited early:\n${started.output.text()}`);
      return started.output.text().includes("Ctrl-C stops everything.") ? true : undefined;
    },
    { timeoutMs: 60_000, what: "the demo to print its curl lines" },
  );
  const output = demo.output.text();
  assert.doesNotMatch(output, /diagnostics/, "the example compiles without diagnostics");
  const lines = output
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.startsWith("curl "));
  assert.equal(lines.length, 4, output);

  const expected = [200, 200, 301, 404];
  for (const [index, line] of lines.entries()) {
    const promised = /#\s*(\d{3})\b/.exec(line)?.[1];
    assert.equal(Number(promised), expected[index], `line ${index + 1} promises ${expected[index]}: ${line}`);
    // Exactly as printed, through a shell (the trailing comment is the shell's to ignore).
    const { stdout } = await run("bash", ["-c", line], { timeout: 15_000 });
    const statusLine = stdout.split("\r\n")[0] ?? "";
    assert.match(statusLine, new RegExp(`^HTTP/[\\d.]+ ${promised}\\b`), `${line}\n→ ${stdout.slice(0, 300)}`);
    if (index === 1) assert.match(statusLine, /^HTTP\/2 /, "HTTPS is served over HTTP/2");
  }
  const workDir = /config in (\S+)\/config/.exec(output)?.[1];
  assert.ok(workDir && existsSync(workDir), "the demo says where its files are");

  demo.child.kill("SIGINT");
  const status = await demo.exited;
  assert.equal(status.code, 0, demo.output.text());
  assert.match(demo.output.text(), /stopping the demo/);
  await waitFor(async () => ((await portOpen(httpPort)) || (await portOpen(httpsPort)) ? undefined : true), { timeoutMs: 10_000, what: "Envoy's ports to close" });
  assert.equal(existsSync(workDir), false, "the temporary folder is removed");
});
