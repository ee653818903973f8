/**
 * `--webhook-certificates cert-manager` against a real apiserver. cert-manager itself cannot be
 * installed here (no registry), so the test plays its part exactly: a kubernetes.io/tls Secret
 * with tls.crt, tls.key and ca.crt, written after the operator started (it waits), then rotated
 * (a new key and certificate, as a renewal writes them). The webhook serves the Secret's
 * certificate, picks up the rotation while requests keep coming, creates no CA Secret of its own
 * and leaves caBundle alone (cert-manager's CA injector owns it). Not proven here: cert-manager's
 * issuing and its CA injector (the chart's Certificate and annotation are checked as rendered
 * objects in test/unit/chart).
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import https from "node:https";
import type { TLSSocket } from "node:tls";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { dump, load } from "js-yaml";
import { createLogger } from "../../../src/controllers/log.js";
import { createCa, issueCertificate } from "../../../src/pki/index.js";
import type { CertificateAuthority } from "../../../src/pki/index.js";
import { defaultInjectionSettings, startWebhook } from "../../../src/webhook/index.js";
import type { RunningWebhook } from "../../../src/webhook/index.js";
import { startControlPlane } from "../../support/control-plane.js";
import type { ControlPlane } from "../../support/control-plane.js";
import { freePort, waitFor } from "../../support/net.js";
import { repoRoot } from "../../support/paths.js";

const namespace = "istio-system";
const secretName = "pilotfish-webhook-tls";

interface WebhookConfiguration {
  webhooks: Array<{ clientConfig: { url?: string; service?: { path: string }; caBundle?: string } }>;
}

describe("webhook certificates from cert-manager's Secret on a real apiserver", () => {
  let controlPlane: ControlPlane;
  let webhook: RunningWebhook | undefined;
  let ca: CertificateAuthority;

  /** The Secret as cert-manager's Certificate writes it (type kubernetes.io/tls, ca.crt included). */
  const writeSecret = async (): Promise<string> => {
    const leaf = await issueCertificate(ca, { commonName: "pilotfish.istio-system.svc", dnsNames: ["pilotfish.istio-system.svc"], ipAddresses: ["127.0.0.1"], usage: "server", validityDays: 90 });
    const base64 = (text: string): string => Buffer.from(text).toString("base64");
    const secret = {
      apiVersion: "v1",
      kind: "Secret",
      type: "kubernetes.io/tls",
      metadata: { name: secretName, namespace, annotations: { "cert-manager.io/certificate-name": "pilotfish-webhook", "cert-manager.io/issuer-name": "test-issuer" } },
      data: { "tls.crt": base64(leaf.fullChainPem), "tls.key": base64(leaf.privateKeyPem), "ca.crt": base64(ca.certificatePem) },
    };
    await controlPlane.kubectlOk(["apply", "-f", "-"], { input: JSON.stringify(secret) });
    return new X509Certificate(leaf.certificatePem).serialNumber;
  };
  /** POST an AdmissionReview trusting only the issuer's CA; the status and the presented certificate's serial. */
  const post = (port: number, agent: https.Agent | false): Promise<{ status: number; serial: string }> =>
    new Promise((resolve, reject) => {
      const request = https.request({ host: "127.0.0.1", port, path: "/inject", method: "POST", ca: ca.certificatePem, agent, timeout: 5000 }, (response) => {
        const serial = (response.socket as TLSSocket).getPeerX509Certificate()?.serialNumber ?? "";
        response.resume().on("end", () => resolve({ status: response.statusCode ?? 0, serial }));
      });
      request.on("error", reject);
      request.end(JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: { uid: "u", kind: { kind: "Pod" }, namespace: "n", operation: "CREATE", object: { metadata: { name: "p" }, spec: { containers: [{ name: "c", image: "i" }] } } } }));
    });

  before(async () => {
    controlPlane = await startControlPlane();
    await controlPlane.kubectlOk(["create", "namespace", namespace]);
    ca = await createCa({ commonName: "test cert-manager issuer CA", validityDays: 365 });
  });
  after(async () => {
    await webhook?.close();
    await controlPlane?.stop();
  });

  it("waits for the Secret, serves its certificate, reloads it on rotation without a failed request, and neither creates a CA nor patches caBundle", async () => {
    const port = await freePort();
    // The configurations as shipped, with a url for the host and an empty caBundle.
    const manifests = ["mutating.yaml", "validating.yaml"].map((file) => {
      const configuration = load(readFileSync(join(repoRoot, "config", "webhook", file), "utf8")) as WebhookConfiguration;
      for (const entry of configuration.webhooks) entry.clientConfig = { url: `https://127.0.0.1:${port}${entry.clientConfig.service?.path ?? ""}` };
      return dump(configuration);
    });
    await controlPlane.kubectlOk(["apply", "-f", "-"], { input: manifests.join("---\n") });

    // Started before cert-manager has issued anything: it waits for the Secret.
    const starting = startWebhook({
      kubeConfig: controlPlane.kubeConfig(),
      namespace,
      address: `127.0.0.1:${port}`,
      certHosts: ["127.0.0.1"],
      injection: defaultInjectionSettings,
      logger: createLogger("warn", "text"),
      certificates: "cert-manager",
      secretPollMs: 200,
      resyncMs: 200,
    });
    let started = false;
    void starting.then(() => (started = true), () => undefined);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(started, false, "no Secret yet: nothing served");
    const firstSerial = await writeSecret();
    webhook = await starting;

    const agent = new https.Agent({ keepAlive: true, maxSockets: 2 });
    const first = await post(port, false);
    assert.deepEqual(first, { status: 200, serial: firstSerial }, "the Secret's certificate, trusted through ca.crt's CA");

    // Requests keep coming on kept-alive and new connections while the Secret is rotated.
    let failures = 0;
    let requests = 0;
    let running = true;
    const traffic = (async () => {
      while (running) {
        requests++;
        await post(port, requests % 2 === 0 ? agent : false).then((answer) => {
          if (answer.status !== 200) failures++;
        }, () => failures++);
      }
    })();
    const secondSerial = await writeSecret();
    assert.notEqual(secondSerial, firstSerial);
    await waitFor(async () => (await post(port, false)).serial === secondSerial || undefined, { timeoutMs: 30_000, intervalMs: 100, what: "the rotated certificate served" });
    running = false;
    await traffic;
    agent.destroy();
    assert.ok(requests > 5, `${requests} requests during the rotation`);
    assert.equal(failures, 0, `no request failed during the rotation (${requests})`);

    // cert-manager's CA injector owns caBundle: after several resync periods it is still empty.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const kind of ["mutatingwebhookconfiguration/pilotfish-sidecar-injector", "validatingwebhookconfiguration/pilotfish-validator"]) {
      const configuration = JSON.parse(await controlPlane.kubectlOk(["get", kind, "-o", "json"])) as WebhookConfiguration;
      assert.deepEqual(configuration.webhooks.map((entry) => entry.clientConfig.caBundle ?? ""), configuration.webhooks.map(() => ""), `${kind}: caBundle untouched`);
    }
    assert.equal((await controlPlane.kubectl(["get", "secret", "pilotfish-webhook-ca", "-n", namespace])).code, 1, "no CA Secret of its own");
  });
});
