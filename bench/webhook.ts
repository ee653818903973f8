/**
 * /inject CPU per review (run on purpose, not a test): JSON parse of an AdmissionReview for a
 * Deployment's pod, the injection, and the answer's JSON — what the event loop spends per review
 * besides TLS and HTTP — for the passthrough and the ADS bootstrap. Prints a table.
 *
 *   npx tsx bench/webhook.ts [reviews per run, default 1000]
 *
 * test/integration/webhook/latency.test.ts measures the same over real TLS connections, one at a
 * time and 200 concurrent.
 */
import { defaultInjectionSettings } from "../src/webhook/inject/inject.js";
import type { InjectionSettings } from "../src/webhook/inject/inject.js";
import { injectReview } from "../src/webhook/inject/review.js";

const perRun = Number(process.argv[2] ?? 1000);
const runs = 7;

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

function microsPerReview(settings: InjectionSettings): { median: number; answerBytes: number } {
  let answerBytes = 0;
  const run = (): number => {
    const started = performance.now();
    for (let i = 0; i < perRun; i++) answerBytes = JSON.stringify(injectReview(JSON.parse(review), settings).review).length;
    return ((performance.now() - started) * 1000) / perRun;
  };
  run(); // warm-up (JIT, the rendered bootstrap and rules)
  const times = Array.from({ length: runs }, run).sort((a, b) => a - b);
  return { median: times[Math.floor(runs / 2)] ?? 0, answerBytes };
}

const rows = [
  ["passthrough bootstrap", microsPerReview(defaultInjectionSettings)],
  ["ADS bootstrap", microsPerReview({ ...defaultInjectionSettings, discovery: { host: "198.19.127.1", port: 15010 } })],
] as const;
console.log(`| bootstrap | µs per review (median of ${runs} × ${perRun}) | answer bytes |`);
console.log("|---|---|---|");
for (const [name, result] of rows) console.log(`| ${name} | ${result.median.toFixed(0)} | ${result.answerBytes} |`);
