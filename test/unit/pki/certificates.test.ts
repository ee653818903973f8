import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { createCa, createCertificateChainSet, issueCertificate, splitPemCertificates } from "../../../src/pki/index.js";

function publicKeysMatch(certificatePem: string, privateKeyPem: string): boolean {
  const fromCert = new X509Certificate(certificatePem).publicKey.export({ type: "spki", format: "der" });
  const fromKey = createPublicKey(createPrivateKey(privateKeyPem)).export({ type: "spki", format: "der" });
  return Buffer.compare(fromCert, fromKey) === 0;
}

test("root → intermediate → server chain verifies with node:crypto", async () => {
  const now = new Date("2030-01-01T00:00:00Z");
  const root = await createCa({ commonName: "test root", now });
  const intermediate = await createCa({ commonName: "test intermediate", issuer: root, now });
  const server = await issueCertificate(intermediate, {
    commonName: "webapp.example.test",
    dnsNames: ["webapp.example.test", "*.apps.example.test"],
    ipAddresses: ["127.0.0.1"],
    usage: "server",
    now,
  });

  const rootCert = new X509Certificate(root.certificatePem);
  const intermediateCert = new X509Certificate(intermediate.certificatePem);
  const leaf = new X509Certificate(server.certificatePem);

  assert.equal(rootCert.ca, true);
  assert.equal(intermediateCert.ca, true);
  assert.equal(leaf.ca, false);
  assert.ok(rootCert.verify(rootCert.publicKey), "root is self-signed");
  assert.ok(intermediateCert.checkIssued(rootCert) && intermediateCert.verify(rootCert.publicKey));
  assert.ok(leaf.checkIssued(intermediateCert) && leaf.verify(intermediateCert.publicKey));
  assert.equal(leaf.verify(rootCert.publicKey), false, "the leaf is not signed by the root directly");

  assert.equal(leaf.subject, "CN=webapp.example.test");
  assert.equal(leaf.checkHost("webapp.example.test"), "webapp.example.test");
  assert.equal(leaf.checkHost("catalog.apps.example.test"), "*.apps.example.test"); // the matching SAN
  assert.equal(leaf.checkHost("other.example.test"), undefined);
  assert.equal(leaf.checkIP("127.0.0.1"), "127.0.0.1");
  assert.match(leaf.keyUsage?.join(",") ?? "", /1\.3\.6\.1\.5\.5\.7\.3\.1/);

  assert.equal(new Date(leaf.validFrom).getTime() <= now.getTime(), true);
  assert.equal(new Date(leaf.validTo).getTime() > now.getTime() + 365 * 86400_000, true);

  assert.ok(publicKeysMatch(server.certificatePem, server.privateKeyPem));
  assert.ok(publicKeysMatch(intermediate.certificatePem, intermediate.privateKeyPem));

  // What the server presents: leaf + intermediate; what a client trusts: intermediate + root.
  assert.deepEqual(splitPemCertificates(server.fullChainPem), [server.certificatePem, intermediate.certificatePem]);
  assert.deepEqual(splitPemCertificates(server.caChainPem), [intermediate.certificatePem, root.certificatePem]);
});

test("client certificates carry clientAuth only", async () => {
  const set = await createCertificateChainSet({ name: "mtls", serverHosts: ["a.example.test"] });
  const client = new X509Certificate(set.client.certificatePem);
  assert.deepEqual(client.keyUsage, ["1.3.6.1.5.5.7.3.2"]);
  assert.ok(client.checkIssued(new X509Certificate(set.intermediate.certificatePem)));
  assert.equal(client.subject, "CN=mtls-client\nO=pilotfish test");
});

test("RSA keys work end to end", async () => {
  const root = await createCa({ commonName: "rsa root", keyAlgorithm: "rsa-2048" });
  const leaf = await issueCertificate(root, { commonName: "rsa.example.test", dnsNames: ["rsa.example.test"], usage: "server" });
  const cert = new X509Certificate(leaf.certificatePem);
  assert.equal(cert.publicKey.asymmetricKeyType, "rsa");
  assert.ok(cert.verify(new X509Certificate(root.certificatePem).publicKey));
  assert.ok(publicKeysMatch(leaf.certificatePem, leaf.privateKeyPem));
  // Signed by a root directly: nothing between leaf and root.
  assert.equal(leaf.fullChainPem, leaf.certificatePem);
});

test("serial numbers differ between certificates", async () => {
  const root = await createCa({ commonName: "serial root" });
  const a = await issueCertificate(root, { commonName: "a", usage: "server" });
  const b = await issueCertificate(root, { commonName: "a", usage: "server" });
  assert.notEqual(new X509Certificate(a.certificatePem).serialNumber, new X509Certificate(b.certificatePem).serialNumber);
});

test("names with DN special characters are refused", async () => {
  await assert.rejects(createCa({ commonName: "evil, O=other" }), /special characters/);
});
