import assert from "node:assert/strict";
import https from "node:https";
import tls from "node:tls";
import { X509Certificate } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { createCa, issueCertificate } from "../../../src/pki/index.js";
import type { CertificateAuthority } from "../../../src/pki/index.js";
import { defaultInjectionSettings } from "../../../src/webhook/inject/inject.js";
import { WebhookServer } from "../../../src/webhook/server.js";
import { caBundlePatch } from "../../../src/webhook/ca-bundle.js";
import { renewAt } from "../../../src/webhook/certificates.js";

const review = (kind: string, object: unknown): string =>
  JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: { uid: "u-9", kind: { kind }, namespace: "shop", operation: "CREATE", object } });

describe("webhook HTTPS server", () => {
  let ca: CertificateAuthority;
  let server: WebhookServer;
  let agent: https.Agent;

  const post = (path: string, body: string, options: { agent?: https.Agent } = {}): Promise<{ status: number; body: string; serial: string }> =>
    new Promise((resolve, reject) => {
      const request = https.request(
        { host: "127.0.0.1", port: server.port, path, method: "POST", ca: ca.certificatePem, agent: options.agent ?? agent, headers: { "content-type": "application/json" } },
        (response) => {
          let text = "";
          const peer = (response.socket as tls.TLSSocket).getPeerX509Certificate();
          response.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
          response.on("end", () => {
            resolve({ status: response.statusCode ?? 0, body: text, serial: peer?.serialNumber ?? "" });
          });
        },
      );
      request.on("error", reject);
      request.end(body);
    });

  before(async () => {
    ca = await createCa({ commonName: "webhook test CA" });
    const serving = await issueCertificate(ca, { commonName: "127.0.0.1", ipAddresses: ["127.0.0.1"], usage: "server" });
    server = await WebhookServer.start({ host: "127.0.0.1", port: 0, certificate: { certificatePem: serving.fullChainPem, privateKeyPem: serving.privateKeyPem }, injection: defaultInjectionSettings });
    agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  });
  after(async () => {
    agent.destroy();
    await server.close();
  });

  it("refuses TLS 1.1 and accepts TLS 1.2", async () => {
    const handshake = (version: tls.SecureVersion): Promise<string> =>
      new Promise((resolve) => {
        const socket = tls.connect({ host: "127.0.0.1", port: server.port, ca: ca.certificatePem, minVersion: version, maxVersion: version }, () => {
          resolve(socket.getProtocol() ?? "");
          socket.end();
        });
        socket.on("error", (error) => resolve(`error: ${error.message}`));
      });
    assert.match(await handshake("TLSv1.1"), /^error/);
    assert.equal(await handshake("TLSv1.2"), "TLSv1.2");
  });

  it("/validate denies an invalid VirtualService with the validator's message (the apiserver adds the webhook's name)", async () => {
    // As the apiserver sends it: with managedFields, uid, creationTimestamp.
    const vs = { apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "bad", namespace: "shop", uid: "x", creationTimestamp: "2026-01-01T00:00:00Z", managedFields: [{ manager: "kubectl" }] }, spec: { hosts: ["a"], http: [{ match: [{ uri: { regex: "/bad(" } }], route: [{ destination: { host: "a" } }] }] } };
    const answer = await post("/validate", review("VirtualService", vs));
    assert.equal(answer.status, 200);
    const response = (JSON.parse(answer.body) as { response: { allowed: boolean; status: { message: string } } }).response;
    assert.equal(response.allowed, false);
    assert.match(response.status.message, /^VirtualService bad: spec\.http\[0\]\.match\[0\]\.uri\.regex: /);
    assert.doesNotMatch(response.status.message, /managedFields/);
  });

  it("/inject answers a pod CREATE with a JSONPatch", async () => {
    const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: { containers: [{ name: "app", image: "i" }] } };
    const response = (JSON.parse((await post("/inject", review("Pod", pod))).body) as { response: { allowed: boolean; patchType: string } }).response;
    assert.equal(response.allowed, true);
    assert.equal(response.patchType, "JSONPatch");
  });

  it("answers 404 elsewhere and 400 to a body that is not a review", async () => {
    assert.equal((await post("/other", "{}")).status, 404);
    assert.equal((await post("/inject", "not json")).status, 400);
  });

  it("swaps its certificate in place: an open connection keeps working, new connections get the new certificate", async () => {
    const first = await post("/inject", "{}"); // 400, but over the kept-alive connection
    const renewed = await issueCertificate(ca, { commonName: "127.0.0.1", ipAddresses: ["127.0.0.1"], usage: "server" });
    server.setCertificate({ certificatePem: renewed.fullChainPem, privateKeyPem: renewed.privateKeyPem });
    const sameConnection = await post("/inject", "{}");
    assert.equal(sameConnection.status, 400);
    assert.equal(sameConnection.serial, first.serial, "the open connection is the old handshake");
    const fresh = await post("/inject", "{}", { agent: new https.Agent({ keepAlive: false }) });
    assert.equal(fresh.serial, new X509Certificate(renewed.certificatePem).serialNumber);
    assert.notEqual(fresh.serial, first.serial);
  });
});

describe("caBundle patch and renewal time", () => {
  it("patches only the webhooks whose caBundle differs, guarding each by its name", () => {
    const configuration = { webhooks: [{ name: "a", clientConfig: { caBundle: "NEW" } }, { name: "b", clientConfig: { caBundle: "OLD" } }, { name: "c", clientConfig: {} }] };
    assert.deepEqual(caBundlePatch(configuration, "NEW"), [
      { op: "test", path: "/webhooks/1/name", value: "b" },
      { op: "replace", path: "/webhooks/1/clientConfig/caBundle", value: "NEW" },
      { op: "test", path: "/webhooks/2/name", value: "c" },
      { op: "add", path: "/webhooks/2/clientConfig/caBundle", value: "NEW" },
    ]);
    assert.deepEqual(caBundlePatch({ webhooks: [{ name: "a", clientConfig: { caBundle: "NEW" } }] }, "NEW"), []);
  });

  it("renews at two thirds of the validity", () => {
    assert.equal(renewAt(new Date("2026-01-01T00:00:00Z"), new Date("2026-01-31T00:00:00Z")).toISOString(), "2026-01-21T00:00:00.000Z");
  });
});
