/**
 * The webhook's certificates against a real apiserver: two replicas started at once share one
 * CA (one creates the Secret, the other reads it), a caBundle someone overwrites is put back,
 * and a serving certificate renewed every 10 s (a 15 s validity) is swapped in while
 * requests keep coming, none failing.
 */
import assert from "node:assert/strict";
import https from "node:https";
import type { TLSSocket } from "node:tls";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Registry } from "prom-client";
import { dump, load } from "js-yaml";
import { createLogger } from "../../../src/controllers/log.js";
import { defaultInjectionSettings, startWebhook } from "../../../src/webhook/index.js";
import type { RunningWebhook } from "../../../src/webhook/index.js";
import { startControlPlane } from "../../support/control-plane.js";
import type { ControlPlane } from "../../support/control-plane.js";
import { freePort, waitFor } from "../../support/net.js";
import { repoRoot } from "../../support/paths.js";

interface WebhookConfiguration {
  webhooks: Array<{ name: string; clientConfig: { url?: string; service?: { path: string }; caBundle?: string } }>;
}

describe("webhook certificates on a real apiserver", () => {
  let controlPlane: ControlPlane;
  const running: RunningWebhook[] = [];
  const logger = createLogger("warn", "text");

  const caPem = async (): Promise<string> => {
    const secret = JSON.parse(await controlPlane.kubectlOk(["get", "secret", "pilotfish-webhook-ca", "-n", "istio-system", "-o", "json"])) as { data: Record<string, string> };
    return Buffer.from(secret.data["ca-cert.pem"] ?? "", "base64").toString("utf8");
  };
  const registry = new Registry();
  const start = async (port: number, servingValidityMs?: number, withRegistry = false): Promise<RunningWebhook> => {
    const webhook = await startWebhook({
      kubeConfig: controlPlane.kubeConfig(),
      namespace: "istio-system",
      address: `127.0.0.1:${port}`,
      certHosts: ["127.0.0.1"],
      injection: defaultInjectionSettings,
      logger,
      resyncMs: 300,
      ...(servingValidityMs ? { servingValidityMs } : {}),
      ...(withRegistry ? { registry } : {}),
    });
    running.push(webhook);
    return webhook;
  };
  /** POST an AdmissionReview; resolves with the status and the serial of the certificate presented. */
  const post = (port: number, ca: string, agent: https.Agent | false): Promise<{ status: number; serial: string }> =>
    new Promise((resolve, reject) => {
      const request = https.request({ host: "127.0.0.1", port, path: "/inject", method: "POST", ca, agent, timeout: 5000 }, (response) => {
        const serial = (response.socket as TLSSocket).getPeerX509Certificate()?.serialNumber ?? "";
        response.resume().on("end", () => resolve({ status: response.statusCode ?? 0, serial }));
      });
      request.on("error", reject);
      request.end(JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: { uid: "u", kind: { kind: "Pod" }, namespace: "n", operation: "CREATE", object: { metadata: { name: "p" }, spec: { containers: [{ name: "c", image: "i" }] } } } }));
    });

  before(async () => {
    controlPlane = await startControlPlane();
    await controlPlane.kubectlOk(["create", "namespace", "istio-system"]);
  });
  after(async () => {
    for (const webhook of running) await webhook.close();
    await controlPlane?.stop();
  });

  it("two replicas started together share one CA from one Secret and patch caBundle; an overwritten caBundle is put back", async () => {
    const ports = [await freePort(), await freePort()];
    const manifests = ["mutating.yaml", "validating.yaml"].map((file) => {
      const configuration = load(readFileSync(join(repoRoot, "config", "webhook", file), "utf8")) as WebhookConfiguration;
      for (const webhook of configuration.webhooks) webhook.clientConfig = { url: `https://127.0.0.1:${ports[0]}${webhook.clientConfig.service?.path ?? ""}` };
      return dump(configuration);
    });
    await controlPlane.kubectlOk(["apply", "-f", "-"], { input: manifests.join("---\n") });
    await Promise.all(ports.map((port) => start(port)));
    const ca = await caPem();
    for (const port of ports) assert.equal((await post(port, ca, false)).status, 200, `replica on ${port} serves a certificate of the Secret's CA`);
    const bundle = Buffer.from(ca).toString("base64");
    const current = async (): Promise<boolean> => {
      const mutating = JSON.parse(await controlPlane.kubectlOk(["get", "mutatingwebhookconfiguration", "pilotfish-sidecar-injector", "-o", "json"])) as WebhookConfiguration;
      const validating = JSON.parse(await controlPlane.kubectlOk(["get", "validatingwebhookconfiguration", "pilotfish-validator", "-o", "json"])) as WebhookConfiguration;
      return [...mutating.webhooks, ...validating.webhooks].every((webhook) => webhook.clientConfig.caBundle === bundle);
    };
    await waitFor(current, { timeoutMs: 20_000, what: "caBundle in every webhook" });
    // The webhooks watch their configurations and may repair the overwrite before a read here
    // could see it: prove the repair by the generation moving past the overwrite's.
    const overwritten = JSON.parse(await controlPlane.kubectlOk(["patch", "mutatingwebhookconfiguration", "pilotfish-sidecar-injector", "--type=json", "-o", "json", "-p",
      JSON.stringify([{ op: "replace", path: "/webhooks/1/clientConfig/caBundle", value: Buffer.from("stale").toString("base64") }])])) as { metadata: { generation: number } };
    const generation = async (): Promise<number> =>
      Number(await controlPlane.kubectlOk(["get", "mutatingwebhookconfiguration", "pilotfish-sidecar-injector", "-o", "jsonpath={.metadata.generation}"]));
    await waitFor(async () => (await generation()) > overwritten.metadata.generation && (await current()), { timeoutMs: 20_000, what: "the overwritten caBundle put back" });
  });

  it("a CA Secret it cannot write yet (its namespace missing) is retried, not fatal: the webhook serves once the namespace exists", async () => {
    const port = await freePort();
    let settled = false;
    const starting = startWebhook({
      kubeConfig: controlPlane.kubeConfig(),
      namespace: "late-system",
      address: `127.0.0.1:${port}`,
      certHosts: ["127.0.0.1"],
      injection: defaultInjectionSettings,
      logger,
      resyncMs: 300,
    }).finally(() => {
      settled = true;
    });
    // Attempts at 0, 0.5 s and 1.5 s fail with 404 (no namespace); the start neither fails nor serves.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    assert.equal(settled, false, "the start waits for its CA instead of failing");
    await controlPlane.kubectlOk(["create", "namespace", "late-system"]);
    const webhook = await starting;
    running.push(webhook);
    const secret = JSON.parse(await controlPlane.kubectlOk(["get", "secret", "pilotfish-webhook-ca", "-n", "late-system", "-o", "json"])) as { data: Record<string, string> };
    const ca = Buffer.from(secret.data["ca-cert.pem"] ?? "", "base64").toString("utf8");
    assert.equal((await post(port, ca, false)).status, 200, "served with a certificate of the CA created once the namespace existed");
  });

  it("renews its serving certificate in place: requests across two renewals all succeed", async () => {
    const port = await freePort();
    // Renewed at 2/3 of its life: every 10 s, 5 s before it expires. A shorter life makes the
    // test a race against a loaded machine's scheduler rather than a test of the swap.
    await start(port, 15_000, true);
    const ca = await caPem();
    const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 4 });
    const serials = new Set<string>();
    let requests = 0;
    const failures: string[] = [];
    try {
      await waitFor(async () => {
        const batch = await Promise.allSettled([post(port, ca, false), post(port, ca, false), post(port, ca, keepAlive), post(port, ca, keepAlive)]);
        for (const result of batch) {
          requests++;
          if (result.status === "rejected") failures.push(String(result.reason));
          else if (result.value.status !== 200) failures.push(`HTTP ${result.value.status}`);
          else serials.add(result.value.serial);
        }
        return serials.size >= 3;
      }, { timeoutMs: 90_000, intervalMs: 50, what: "two renewals seen by clients" });
    } finally {
      keepAlive.destroy();
    }
    console.log(`# ${requests} requests across ${serials.size - 1} certificate renewals, ${failures.length} failed`);
    assert.deepEqual(failures, []);
    const histogram = await registry.getSingleMetricAsString("pilotfish_webhook_review_duration_seconds");
    const count = Number(/pilotfish_webhook_review_duration_seconds_count\{path="\/inject",code="200"\} (\d+)/.exec(histogram)?.[1] ?? 0);
    assert.equal(count, requests, "every answered review is in the histogram");
  });
});
