/**
 * `pilotfish run` as a process, with the bench's Envoy: a folder of manifests (an ingress Service
 * with its own targetPorts, a Service whose endpoints are a local httpbin named by the
 * pilotfish.io/endpoints annotation) served over ADS; live edits (a new host, a new TCP listener),
 * refused edits (an invalid Gateway, broken YAML) that leave the last good config serving, and
 * SIGTERM stopping everything with exit 0. Startup errors exit 1 naming what to fix.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, httpRequest, tcpExchange, waitFor } from "../../support/net.js";
import { benchTool, repoRoot } from "../../support/paths.js";
import { spawnManaged, stopManaged } from "../../support/processes.js";
import type { ManagedProcess } from "../../support/processes.js";
import { startHttpbin, startTcpEcho } from "../../support/upstreams/index.js";
import type { Httpbin, TcpEcho } from "../../support/upstreams/index.js";
import { cliNodeArgs } from "../../support/cli.js";

const cli = cliNodeArgs();

function portOpen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.destroy();
      done(true);
    });
    socket.on("error", () => done(false));
  });
}

function runOnce(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...cli, ...args], { cwd: repoRoot, env: { ...process.env, ENVOY: benchTool("envoy") } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

function gateway(hosts: string[], protocol = "HTTP", extraServers = ""): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: shop }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: ${protocol} }
    hosts: [${hosts.map((h) => `"${h}"`).join(", ")}]
${extraServers}`;
}

const routes = (hosts: string[]): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web, namespace: shop }
spec:
  hosts: [${hosts.map((h) => `"${h}"`).join(", ")}]
  gateways: [gw]
  http:
  - route:
    - destination: { host: web, port: { number: 80 } }
`;

describe("pilotfish run", () => {
  let dir: string;
  let httpbin: Httpbin;
  let echo: TcpEcho;
  let run: ManagedProcess | undefined;
  let httpPort: number;
  let tcpPort: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "pilotfish-run-test-"));
    httpbin = await startHttpbin({ name: "web" });
    echo = await startTcpEcho({ name: "echo" });
    httpPort = await freePort();
    tcpPort = await freePort();
    // The ingress Service decides the listener ports (targetPort), --port-offset 1 moves them.
    writeFileSync(
      join(dir, "ingress.yaml"),
      `apiVersion: v1
kind: Service
metadata: { name: ingress, namespace: edge }
spec:
  selector: { istio: ingressgateway }
  ports:
  - { name: http, port: 80, targetPort: ${httpPort - 1} }
  - { name: tcp, port: 31400, targetPort: ${tcpPort - 1} }
`,
    );
    writeFileSync(
      join(dir, "services.yaml"),
      `apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  annotations: { pilotfish.io/endpoints: "127.0.0.1:${httpbin.port}" }
spec:
  ports: [{ name: http, port: 80 }]
---
apiVersion: v1
kind: Service
metadata:
  name: echo
  namespace: shop
  annotations: { pilotfish.io/endpoints: "tcp=127.0.0.1:${echo.port}" }
spec:
  ports: [{ name: tcp, port: 9000 }]
`,
    );
    writeFileSync(join(dir, "gateway.yaml"), gateway(["a.example.com"]));
    writeFileSync(join(dir, "routes.yaml"), routes(["a.example.com"]));
  });

  after(async () => {
    if (run) await stopManaged(run);
    await httpbin?.close();
    await echo?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const output = (): string => run?.output.text() ?? "";
  const status = async (host: string): Promise<number> => (await httpRequest({ url: `http://127.0.0.1:${httpPort}/`, headers: { host } })).status;

  test("serves the folder on Envoy and prints where each listener is", async () => {
    run = spawnManaged(process.execPath, [...cli, "run", "--config-dir", dir, "--port-offset", "1", "--admin-port", "0", "--debounce", "50"], {
      name: "pilotfish-run",
      cwd: repoRoot,
      env: { ...process.env, ENVOY: benchTool("envoy") },
    });
    const started = run;
    await waitFor(
      async () => {
        if (started.exitStatus) throw new Error(`pilotfish run exited:\n${started.output.text()}`);
        return started.output.text().includes("Ctrl-C stops") ? true : undefined;
      },
      { timeoutMs: 90_000, what: "pilotfish run to be ready" },
    );
    assert.match(output(), new RegExp(`127\\.0\\.0\\.1:${httpPort}\\s+HTTP a\\.example\\.com — Gateway shop/gw port 80`));
    assert.doesNotMatch(output(), /has no endpoints/);
    const response = await httpRequest({ url: `http://127.0.0.1:${httpPort}/hello`, headers: { host: "a.example.com" } });
    assert.equal(response.status, 200);
    assert.equal(response.headers["x-upstream"], "web");
    assert.equal(httpbin.hits("/hello"), 1);
    assert.equal(await status("b.example.com"), 404);
  });

  test("a valid edit applies live: a new host", async () => {
    writeFileSync(join(dir, "gateway.yaml"), gateway(["a.example.com", "b.example.com"]));
    writeFileSync(join(dir, "routes.yaml"), routes(["a.example.com", "b.example.com"]));
    await waitFor(async () => ((await status("b.example.com")) === 200 ? true : undefined), { timeoutMs: 20_000, what: "b.example.com to be routed" });
    await waitFor(async () => (/applied config version \d+: .*virtual host/.test(output()) ? true : undefined), { timeoutMs: 5000, what: "the applied summary" });
  });

  test("an invalid edit is refused, named, and the last good config keeps serving", async () => {
    writeFileSync(join(dir, "gateway.yaml"), gateway(["a.example.com", "b.example.com"], "HTTPX"));
    await waitFor(async () => (output().includes("spec.servers[0].port.protocol") ? true : undefined), { timeoutMs: 20_000, what: "the refusal" });
    assert.match(output(), /refused the change .*keeps serving config version \d+/);
    assert.match(output(), /gateway\.yaml: Gateway shop\/gw: spec\.servers\[0\]\.port\.protocol: invalid protocol "HTTPX"/);
    assert.equal(await status("b.example.com"), 200);

    writeFileSync(join(dir, "routes.yaml"), "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: web\n");
    await waitFor(async () => (/routes\.yaml: invalid YAML at line \d+/.test(output()) ? true : undefined), { timeoutMs: 20_000, what: "the YAML error" });
    assert.equal(await status("a.example.com"), 200);
    assert.equal(await status("b.example.com"), 200);
  });

  test("fixing the folder and adding a TCP server opens a new listener live", async () => {
    const tcpServer = `  - port: { number: 31400, name: tcp, protocol: TCP }
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo, namespace: shop }
spec:
  hosts: ["*"]
  gateways: [gw]
  tcp:
  - route:
    - destination: { host: echo, port: { number: 9000 } }
`;
    writeFileSync(join(dir, "routes.yaml"), routes(["a.example.com"]));
    writeFileSync(join(dir, "gateway.yaml"), gateway(["a.example.com"], "HTTP", tcpServer));
    // The listener can accept a moment before its new cluster has its endpoints (Envoy does not
    // hold a listener for a warming cluster): retry until the echo comes back.
    const received = await waitFor(
      async () => {
        const answer = await tcpExchange("127.0.0.1", tcpPort, "ping\n", { timeoutMs: 2000 }).catch(() => "");
        return /ping\n$/.test(answer) ? answer : undefined;
      },
      { timeoutMs: 20_000, what: "an echo through the new TCP listener" },
    );
    assert.match(received, /^Welcome, you are connected to node echo\.\r\nping\n$/);
    assert.match(output(), new RegExp(`127\\.0\\.0\\.1:${tcpPort}\\s+TCP \\* — Gateway shop/gw port 31400`));
    await waitFor(async () => ((await status("b.example.com")) === 404 ? true : undefined), { timeoutMs: 20_000, what: "b.example.com to be gone" });
  });

  test("SIGTERM stops Envoy and everything, exit 0", async () => {
    assert.ok(run);
    const admin = /Envoy admin: http:\/\/127\.0\.0\.1:(\d+)/.exec(output())?.[1];
    assert.ok(admin, "prints Envoy's admin address");
    assert.equal(await portOpen(Number(admin)), true);
    run.child.kill("SIGTERM");
    const exit = await run.exited;
    assert.equal(exit.code, 0, output());
    assert.match(output(), /stopped\n/);
    for (const port of [httpPort, tcpPort, Number(admin)]) assert.equal(await portOpen(port), false, `port ${port} is closed`);
    run = undefined;
  });

  test("errors at start: exit 1, naming the resource, field and fix", async () => {
    const bad = mkdtempSync(join(tmpdir(), "pilotfish-run-bad-"));
    try {
      writeFileSync(join(bad, "gw.yaml"), gateway(["a.example.com"], "HTTPX"));
      writeFileSync(
        join(bad, "svc.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: two\n  annotations: { pilotfish.io/endpoints: \"127.0.0.1:1\" }\nspec:\n  ports: [{ name: a, port: 1 }, { name: b, port: 2 }]\n",
      );
      const result = await runOnce(["run", "--config-dir", bad, "--admin-port", "0"]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /gw\.yaml: Gateway shop\/gw: spec\.servers\[0\]\.port\.protocol: invalid protocol/);
      assert.match(result.stderr, /svc\.yaml: Service default\/two: metadata\.annotations\["pilotfish\.io\/endpoints"\]: .*prefix each address with its port's name/);
      const noEnvoy = await runOnce(["run", "--config-dir", dir, "--envoy", join(bad, "no-envoy")]);
      assert.equal(noEnvoy.code, 1);
      assert.match(noEnvoy.stderr, /Envoy not found at .*no-envoy: pass --envoy/);
      const noFolder = await runOnce(["run", "--config-dir", join(bad, "missing")]);
      assert.equal(noFolder.code, 1);
      assert.match(noFolder.stderr, /cannot read the config folder: no such folder/);
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });
});
