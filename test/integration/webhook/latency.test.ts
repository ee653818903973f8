/**
 * Webhook latency under load (issue 12's bench line): 200 concurrent AdmissionReviews for a
 * Deployment's pod against the webhook server in its own process, several rounds, over
 * kept-alive TLS connections as the apiserver uses them. Prints p50/p99; asserts only that every
 * review was answered with a patch (benchmarks print, they don't assert times).
 */
import assert from "node:assert/strict";
import https from "node:https";
import { performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import { createCa, issueCertificate } from "../../../src/pki/index.js";
import { freePort, waitFor } from "../../support/net.js";
import { repoRoot } from "../../support/paths.js";
import { spawnManaged, stopManaged } from "../../support/processes.js";
import type { ManagedProcess } from "../../support/processes.js";

const concurrency = 200;
const rounds = 10;

const review = JSON.stringify({
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  request: {
    uid: "u",
    kind: { group: "", version: "v1", kind: "Pod" },
    namespace: "shop",
    operation: "CREATE",
    object: {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { generateName: "web-5d4f8c7b9-", labels: { app: "web", "pod-template-hash": "5d4f8c7b9" }, ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-5d4f8c7b9", uid: "x", controller: true }] },
      spec: { containers: [{ name: "app", image: "web:1", ports: [{ containerPort: 8080, protocol: "TCP" }], resources: {}, terminationMessagePath: "/dev/termination-log", imagePullPolicy: "IfNotPresent" }], serviceAccountName: "default", restartPolicy: "Always" },
    },
  },
});

describe("webhook latency", () => {
  let server: ManagedProcess;
  let port: number;
  let ca: string;

  before(async () => {
    const authority = await createCa({ commonName: "latency CA" });
    const serving = await issueCertificate(authority, { commonName: "127.0.0.1", ipAddresses: ["127.0.0.1"], usage: "server" });
    ca = authority.certificatePem;
    port = await freePort();
    const script = `
      import { WebhookServer } from "./src/webhook/server.ts";
      import { defaultInjectionSettings } from "./src/webhook/inject/inject.ts";
      const seconds = [];
      await WebhookServer.start({ host: "127.0.0.1", port: ${port}, certificate: ${JSON.stringify({ certificatePem: serving.fullChainPem, privateKeyPem: serving.privateKeyPem })}, injection: defaultInjectionSettings,
        onAnswered: (path, code, s) => seconds.push(s) });
      process.on("SIGTERM", () => {
        seconds.sort((a, b) => a - b);
        const at = (q) => ((seconds[Math.min(seconds.length - 1, Math.floor(q * seconds.length))] ?? 0) * 1000).toFixed(2);
        console.log("SERVER " + seconds.length + " reviews: p50 " + at(0.5) + " ms, p99 " + at(0.99) + " ms, max " + at(1) + " ms");
        process.exit(0);
      });
      console.log("listening");`;
    server = spawnManaged(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { name: "webhook-latency-server", cwd: repoRoot });
    await waitFor(() => server.output.text().includes("listening"), { timeoutMs: 30_000, what: "the webhook server process" });
  });
  after(async () => {
    if (!server) return;
    await stopManaged(server);
    const line = server.output.text().split("\n").find((text) => text.startsWith("SERVER "));
    if (line) console.log(`# server side (last body byte to answer, the apiserver's view minus the network): ${line.slice("SERVER ".length)}`);
  });

  it(`answers ${concurrency} concurrent reviews per round, ${rounds} rounds (p50/p99 printed)`, async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: concurrency });
    const one = (): Promise<{ ms: number; patched: boolean }> =>
      new Promise((resolve, reject) => {
        const started = performance.now();
        const request = https.request({ host: "127.0.0.1", port, path: "/inject", method: "POST", ca, agent, headers: { "content-type": "application/json" } }, (response) => {
          let body = "";
          response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
          response.on("end", () => resolve({ ms: performance.now() - started, patched: (JSON.parse(body) as { response: { patchType?: string } }).response.patchType === "JSONPatch" }));
        });
        request.on("error", reject);
        request.end(review);
      });
    try {
      await Promise.all(Array.from({ length: concurrency }, one)); // warm-up: handshakes, JIT
      const times: number[] = [];
      for (let round = 0; round < rounds; round++) {
        const results = await Promise.all(Array.from({ length: concurrency }, one));
        assert.ok(results.every((result) => result.patched));
        times.push(...results.map((result) => result.ms));
      }
      times.sort((a, b) => a - b);
      const at = (q: number): string => (times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0).toFixed(1);
      const sequential: number[] = [];
      for (let i = 0; i < concurrency; i++) sequential.push((await one()).ms);
      sequential.sort((a, b) => a - b);
      const seq = (q: number): string => (sequential[Math.min(sequential.length - 1, Math.floor(q * sequential.length))] ?? 0).toFixed(1);
      console.log(`# /inject, one at a time (${concurrency} reviews): p50 ${seq(0.5)} ms, p99 ${seq(0.99)} ms`);
      console.log(`# /inject, ${concurrency} concurrent x ${rounds} rounds over kept-alive TLS: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms (client-side, includes queueing behind the other ${concurrency - 1})`);
    } finally {
      agent.destroy();
    }
  });
});
