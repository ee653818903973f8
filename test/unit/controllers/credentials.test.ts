import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { buildSnapshot } from "../../../src/model/snapshot.js";
import type { Gateway } from "../../../src/model/istio.js";
import type { Secret } from "../../../src/model/kube.js";
import { defaultIngressGatewayProxy } from "../../../src/model/proxy.js";
import { createCa, issueCertificate } from "../../../src/pki/index.js";
import { checkCredentials } from "../../../src/controllers/credentials.js";

const DAY = 24 * 60 * 60 * 1000;
const gateway = {
  apiVersion: "networking.istio.io/v1",
  kind: "Gateway",
  metadata: { name: "gw", namespace: "shop" },
  spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 443, name: "https", protocol: "HTTPS" }, hosts: ["shop/a.example"], tls: { mode: "SIMPLE", credentialName: "cred" } }] },
} as unknown as Gateway;
const secret = (crt: string, key: string, namespace = "shop"): Secret => ({ apiVersion: "v1", kind: "Secret", metadata: { name: "cred", namespace }, stringData: { "tls.crt": crt, "tls.key": key } }) as unknown as Secret;

describe("checkCredentials", async () => {
  const root = await createCa({ commonName: "root" });
  const intermediate = await createCa({ commonName: "intermediate", issuer: root });
  const now = new Date();

  test("a good chain in the Gateway's namespace: no finding, expiry from the earliest certificate", async () => {
    const leaf = await issueCertificate(intermediate, { commonName: "a.example", dnsNames: ["a.example"], usage: "server", validityDays: 30 });
    const result = checkCredentials(buildSnapshot({ gateways: [gateway], secrets: [secret(leaf.fullChainPem, leaf.privateKeyPem)] }), [defaultIngressGatewayProxy], now);
    assert.deepEqual(result.findings, []);
    assert.equal(result.expiries.length, 1);
    assert.equal(result.expiries[0]?.namespace, "shop");
    assert.ok((result.expiries[0]?.seconds ?? 0) > 29 * DAY / 1000);
  });

  test("chain out of order, not yet valid, SAN mismatch", async () => {
    const leaf = await issueCertificate(intermediate, { commonName: "b.example", dnsNames: ["b.example"], usage: "server", validityDays: 30, now: new Date(Date.now() + 3 * DAY) });
    const reversed = `${intermediate.certificatePem}${leaf.certificatePem}`;
    const result = checkCredentials(buildSnapshot({ gateways: [gateway], secrets: [secret(reversed, leaf.privateKeyPem, "istio-system")] }), [defaultIngressGatewayProxy], now);
    const reasons = result.findings.map((finding) => finding.reason).sort();
    assert.deepEqual(reasons, ["CredentialChainOrder", "CredentialHostMismatch", "CredentialNotYetValid"]);
    const inOrder = checkCredentials(buildSnapshot({ gateways: [gateway], secrets: [secret(leaf.fullChainPem, leaf.privateKeyPem, "istio-system")] }), [defaultIngressGatewayProxy], now);
    assert.deepEqual(inOrder.findings.map((finding) => finding.reason).sort(), ["CredentialHostMismatch", "CredentialNotYetValid"]);
    assert.match(inOrder.findings.find((finding) => finding.reason === "CredentialNotYetValid")?.message ?? "", /Secret istio-system\/cred .*not valid before/);
  });
});
