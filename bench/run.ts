/**
 * Standalone mode benchmark (run on purpose, not a test): how long `pilotfish run` takes from
 * start to Envoy serving, and from saving an edit in the config folder to Envoy answering with
 * it, for folders of N VirtualServices (one host each) behind one Gateway. Each edit adds a
 * host; the time is from the write to the first 200 for that host (polled every 5 ms).
 *
 *   npx tsx bench/run.ts            # N = 10, 100, 1000; 20 edits each
 *   npx tsx bench/run.ts 100 50     # one size, 50 edits
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findEnvoy } from "../src/cli/standalone/envoy-binary.js";
import { startStandalone } from "../src/cli/standalone/runner.js";
import { freePort } from "../test/support/net.js";
import { startHttpbin } from "../test/support/upstreams/index.js";

const debounceMs = 50;

function status(port: number, host: string): Promise<number> {
  return new Promise((done) => {
    const req = request({ host: "127.0.0.1", port, path: "/", headers: { host }, agent: false }, (response) => {
      response.resume();
      done(response.statusCode ?? 0);
    });
    req.on("error", () => done(0));
    req.end();
  });
}

const virtualService = (index: number): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: vs-${index}, namespace: bench }
spec:
  hosts: ["h${index}.bench.example"]
  gateways: [gw]
  http:
  - route: [{ destination: { host: web } }]
`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function measure(size: number, edits: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "pilotfish-bench-run-"));
  const httpbin = await startHttpbin({ name: "web" });
  const port = await freePort();
  writeFileSync(
    join(dir, "base.yaml"),
    `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: bench }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*.bench.example"] }]
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: bench, annotations: { pilotfish.io/endpoints: "127.0.0.1:${httpbin.port}" } }
spec: { ports: [{ name: http, port: 80 }] }
`,
  );
  writeFileSync(join(dir, "routes.yaml"), Array.from({ length: size }, (_, i) => virtualService(i)).join("---\n"));
  const started = performance.now();
  const standalone = await startStandalone({
    configDir: dir,
    envoyPath: findEnvoy(undefined),
    address: "127.0.0.1",
    portOffset: port - 8080,
    adminPort: 0,
    xdsAddress: "127.0.0.1:0",
    namespace: "bench",
    debounceMs,
    envoyLogLevel: "error",
    info: () => undefined,
    problem: (line) => process.stderr.write(`${line}\n`),
  });
  while ((await status(port, "h0.bench.example")) !== 200) await new Promise((r) => setTimeout(r, 5));
  const startMs = performance.now() - started;
  const times: number[] = [];
  for (let edit = 0; edit < edits; edit++) {
    const index = size + edit;
    const written = performance.now();
    writeFileSync(join(dir, `edit-${edit}.yaml`), virtualService(index));
    while ((await status(port, `h${index}.bench.example`)) !== 200) await new Promise((r) => setTimeout(r, 5));
    times.push(performance.now() - written);
  }
  await standalone.stop();
  await httpbin.close();
  rmSync(dir, { recursive: true, force: true });
  const sorted = [...times].sort((a, b) => a - b);
  const f = (n: number): string => n.toFixed(0).padStart(7);
  return `${String(size).padStart(6)} ${f(startMs)} ${f(sorted[0] ?? NaN)} ${f(percentile(sorted, 50))} ${f(percentile(sorted, 90))} ${f(sorted[sorted.length - 1] ?? NaN)}`;
}

const sizes = process.argv[2] ? [Number(process.argv[2])] : [10, 100, 1000];
const edits = Number(process.argv[3] ?? 20);
console.log(`pilotfish run: start and edit-to-served times in ms (debounce ${debounceMs} ms, ${edits} edits per size)`);
console.log(`${"VS".padStart(6)} ${"start".padStart(7)} ${"min".padStart(7)} ${"p50".padStart(7)} ${"p90".padStart(7)} ${"max".padStart(7)}`);
for (const size of sizes) console.log(await measure(size, edits));
