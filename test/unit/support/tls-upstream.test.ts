import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createCa, issueCertificate } from "../../../src/pki/index.js";
import type { CertificateAuthority } from "../../../src/pki/index.js";
import { httpRequest } from "../../support/net.js";
import { startTlsServer } from "../../support/upstreams/index.js";
import type { TlsServer } from "../../support/upstreams/index.js";

describe("TLS upstream and httpRequest over TLS", () => {
  let root: CertificateAuthority;
  let server: TlsServer;
  before(async () => {
    root = await createCa({ commonName: "Test Root CA" });
    const intermediate = await createCa({ commonName: "Test Intermediate CA", issuer: root });
    const leaf = await issueCertificate(intermediate, {
      commonName: "simple-sni-1.istioinaction.io",
      dnsNames: ["simple-sni-1.istioinaction.io"],
      usage: "server",
    });
    server = await startTlsServer({ name: "simple-sni-1", cert: leaf.fullChainPem, key: leaf.privateKeyPem });
  });
  after(() => server?.close());

  it("answers with its own name over HTTP/1.1, presenting the given certificate", async () => {
    const response = await httpRequest({ url: `${server.url}/`, ca: root.certificatePem, servername: "simple-sni-1.istioinaction.io" });
    assert.equal(response.status, 200);
    assert.equal(response.body, "simple-sni-1\n");
    assert.equal(response.headers["x-upstream"], "simple-sni-1");
    assert.equal(response.httpVersion, "1.1");
    assert.equal(response.alpnProtocol, "http/1.1");
    assert.equal(response.peerCertificate?.subjectCN, "simple-sni-1.istioinaction.io");
    assert.equal(response.peerCertificate?.issuerCN, "Test Intermediate CA");
    assert.equal(server.servernames.at(-1), "simple-sni-1.istioinaction.io");
  });

  it("negotiates h2 by ALPN when asked for HTTP/2", async () => {
    const response = await httpRequest({ url: `${server.url}/x`, ca: root.certificatePem, servername: "simple-sni-1.istioinaction.io", http2: true });
    assert.equal(response.status, 200);
    assert.equal(response.httpVersion, "2.0");
    assert.equal(response.alpnProtocol, "h2");
    assert.equal(response.body, "simple-sni-1\n");
    assert.equal(response.peerCertificate?.subjectCN, "simple-sni-1.istioinaction.io");
  });

  it("verifies the server name against the certificate", async () => {
    await assert.rejects(
      httpRequest({ url: `${server.url}/`, ca: root.certificatePem, servername: "other.istioinaction.io" }),
      /does not match|altnames/i,
    );
  });

  it("rejects a server whose CA is not trusted unless insecure", async () => {
    const stranger = await createCa({ commonName: "Someone else" });
    await assert.rejects(httpRequest({ url: `${server.url}/`, ca: stranger.certificatePem, servername: "simple-sni-1.istioinaction.io" }));
    const response = await httpRequest({ url: `${server.url}/`, insecure: true, servername: "simple-sni-1.istioinaction.io" });
    assert.equal(response.status, 200);
  });

  it("counts requests; a client without SNI shows as an empty servername", async () => {
    const before = server.totalHits();
    await httpRequest({ url: `${server.url}/`, insecure: true });
    assert.equal(server.totalHits(), before + 1);
    assert.equal(server.servernames.at(-1), "");
  });
});
