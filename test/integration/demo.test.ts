/**
 * `make demo` end to end: start the demo (pilotfish run on examples/coolstore with local
 * upstreams), run every line it prints exactly as printed — HTTP, HTTPS with the certificate made
 * at start, the redirect, a 404, SNI passthrough, a TCP echo — then the live-edit line, then
 * Ctrl-C (SIGINT): exit 0, every listener and upstream port closed, the temporary folder gone.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, connect } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { waitFor } from "../support/net.js";
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

function canListen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", () => done(false));
    server.listen(port, "127.0.0.1", () => server.close(() => done(true)));
  });
}

/** An offset that puts Istio's four gateway ports (8080, 8443, 31400, 15443) on free ports. */
async function freeOffset(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const offset = 1000 + Math.floor(Math.random() * 30000);
    const free = await Promise.all([8080, 8443, 31400, 15443].map((port) => canListen(port + offset)));
    if (free.every(Boolean)) return offset;
  }
  throw new Error("no free port offset found");
}

let demo: ManagedProcess | undefined;
after(async () => {
  if (demo) await stopManaged(demo);
});

test("make demo: every printed line works as printed, the live edit applies, Ctrl-C stops everything", async () => {
  const offset = await freeOffset();
  demo = spawnManaged(process.execPath, ["--import", "tsx", join(repoRoot, "scripts", "demo.ts")], {
    name: "demo",
    cwd: repoRoot,
    env: { ...process.env, DEMO_PORT_OFFSET: String(offset), ENVOY: benchTool("envoy") },
  });
  const started = demo;
  await waitFor(
    async () => {
      if (started.exitStatus) throw new Error(`the demo exited early:\n${started.output.text()}`);
      return started.output.text().includes("Ctrl-C stops everything.") ? true : undefined;
    },
    { timeoutMs: 90_000, what: "the demo to print its lines" },
  );
  const output = demo.output.text();
  assert.doesNotMatch(output, /warning|error/i, "the example compiles without diagnostics");
  const printed = output.split("\n").map((line) => line.trim());
  const lines = printed.filter((line) => line.startsWith("curl ") || line.startsWith("python3 "));
  assert.equal(lines.length, 6, output);

  // [promised status or text, what else the answer must show]
  const expected: [string, RegExp][] = [
    ["200", /^x-upstream: catalog\r?$/m],
    ["200", /^x-upstream: webapp\r?$/m],
    ["301", /^location: https:\/\/webapp\.istioinaction\.io\/api\/catalog\r?$/m],
    ["404", /^server: istio-envoy\r?$/m],
    ["200", /^x-upstream: simple-tls-service-1\r?$/m],
    ["TCP echo", /^Welcome, you are connected to node tcp-echo\.\r?\nhello pilotfish$/m],
  ];
  for (const [index, line] of lines.entries()) {
    const [promise, shows] = expected[index] ?? ["", /$^/];
    assert.ok(line.includes(`# ${promise}`), `line ${index + 1} promises ${promise}: ${line}`);
    // Exactly as printed, through a shell (the trailing comment is the shell's to ignore).
    const { stdout } = await run("bash", ["-c", line], { timeout: 20_000 });
    if (/^\d{3}$/.test(promise)) {
      const statusLine = stdout.split("\r\n")[0] ?? "";
      assert.match(statusLine, new RegExp(`^HTTP/[\\d.]+ ${promise}\\b`), `${line}\n→ ${stdout.slice(0, 300)}`);
      if (line.includes("https://")) assert.match(statusLine, /^HTTP\/2 /, "HTTPS is served over HTTP/2");
    }
    assert.match(stdout, shows, `${line}\n→ ${stdout.slice(0, 300)}`);
  }

  const editIndex = printed.findIndex((line) => line.startsWith("Edit the config live"));
  const edit = printed[editIndex + 1] ?? "";
  assert.match(edit, /^sed -i .* && sleep 2 && curl /, edit);
  const { stdout: edited } = await run("bash", ["-c", edit], { timeout: 30_000 });
  assert.match(edited, /"upstream": "webapp"/, `the live edit routes catalog's host to webapp:\n${edited}`);
  assert.match(demo.output.text(), /applied config version 2: ~1 route config, ~1 route, -1 cluster, -1 endpoint/);

  const workDir = /on a copy of examples\/coolstore in (\S+)\/config/.exec(output)?.[1];
  assert.ok(workDir && existsSync(workDir), "the demo says where its files are");
  const ports = [8080, 8443, 31400, 15443].map((port) => port + offset);
  const upstreams = [...(/upstreams: (.*)/.exec(output)?.[1] ?? "").matchAll(/127\.0\.0\.1:(\d+)/g)].map((match) => Number(match[1]));
  assert.equal(upstreams.length, 4, output);
  const admin = Number(/Envoy admin: http:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1]);
  assert.ok(admin > 0);

  demo.child.kill("SIGINT");
  const status = await demo.exited;
  assert.equal(status.code, 0, demo.output.text());
  assert.match(demo.output.text(), /stopping the demo/);
  assert.doesNotMatch(demo.output.text(), /Envoy exited/, "Envoy stopped by the demo, not on its own");
  for (const port of [...ports, ...upstreams, admin]) assert.equal(await portOpen(port), false, `port ${port} is closed`);
  assert.equal(existsSync(workDir), false, "the temporary folder is removed");
  demo = undefined;
});
