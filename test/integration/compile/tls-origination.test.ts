/**
 * DestinationRule TLS origination with real traffic: plain HTTP into the gateway, TLS from the
 * gateway to an upstream that terminates TLS itself, SNI as configured, the upstream certificate
 * verified against the CA from the credential (a wrong CA → 503, so verification is real).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import type { TLSSocket } from "node:tls";
import { dump } from "js-yaml";
import { createCertificateChainSet } from "../../../src/pki/index.js";
import type { CertificateChainSet } from "../../../src/pki/index.js";
import { startTlsServer } from "../../support/upstreams/index.js";
import type { TlsServer } from "../../support/upstreams/index.js";
import { httpRequest, waitFor } from "../../support/net.js";
import { printEnvoyLogOnFailure } from "../../support/envoy.js";
import { serviceManifest, startCompiledGateway } from "./compiled-gateway.js";
import type { CompiledGateway } from "./compiled-gateway.js";
import { secretManifest } from "./tls-fixtures.js";

const namespace = "istioinaction";
const host = "backend.istioinaction.io";

const gatewayAndRoute = [
  dump({
    apiVersion: "networking.istio.io/v1",
    kind: "Gateway",
    metadata: { name: "plain" },
    spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: [host] }] },
  }),
  dump({
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "backend" },
    spec: { hosts: [host], gateways: ["plain"], http: [{ route: [{ destination: { host: "backend", port: { number: 80 } } }] }] },
  }),
  dump({
    apiVersion: "networking.istio.io/v1",
    kind: "DestinationRule",
    metadata: { name: "backend" },
    spec: { host: "backend", trafficPolicy: { tls: { mode: "SIMPLE", sni: host, credentialName: "backend-ca" } } },
  }),
];

describe("DestinationRule TLS origination (SIMPLE, CA from credentialName)", () => {
  let pki: CertificateChainSet;
  let other: CertificateChainSet;
  let backend: TlsServer | undefined;
  let gateway: CompiledGateway | undefined;
  printEnvoyLogOnFailure(() => [gateway?.envoy]);
  before(async () => {
    pki = await createCertificateChainSet({ name: "backend", serverHosts: [host] });
    other = await createCertificateChainSet({ name: "other", serverHosts: [host] });
    backend = await startTlsServer({ name: "backend", cert: pki.server.fullChainPem, key: pki.server.privateKeyPem });
  });
  after(async () => {
    await gateway?.stop();
    await backend?.close();
  });

  test("the gateway speaks TLS to the upstream with SNI and verifies it; a wrong CA gives 503", async () => {
    assert.ok(backend);
    const manifests = (ca: string) => [...gatewayAndRoute, serviceManifest("backend", namespace, 80, [backend!]), secretManifest("istio-system", "backend-ca-cacert", { "ca.crt": ca })];
    gateway = await startCompiledGateway({ name: "tls-origination", namespace, manifests: manifests(pki.root.certificatePem) });
    assert.deepEqual(gateway.result.diagnostics, []);
    assert.deepEqual(gateway.result.resources.secrets.map((s) => s.name), ["kubernetes://backend-ca-cacert"]);
    const ok = await waitFor(
      async () => {
        const response = await httpRequest({ url: gateway!.url(80, "/"), headers: { host } });
        return response.status === 200 ? response : undefined;
      },
      { timeoutMs: 15_000, what: "200 through TLS origination" },
    );
    assert.equal(ok.body, "backend\n");
    assert.ok(backend.servernames.includes(host), `upstream saw SNI ${host}: ${backend.servernames.join(",")}`);

    await gateway.stop();
    gateway = await startCompiledGateway({ name: "tls-origination-wrong-ca", namespace, manifests: manifests(other.root.certificatePem) });
    const refused = await waitFor(
      async () => {
        const response = await httpRequest({ url: gateway!.url(80, "/"), headers: { host } });
        return response.status !== 404 ? response : undefined;
      },
      { timeoutMs: 15_000, what: "an answer from the gateway" },
    );
    assert.equal(refused.status, 503, refused.body);
  });
});

describe("DestinationRule TLS origination without sni (istiod: auto_sni, TLS up to 1.3)", () => {
  let pki: CertificateChainSet;
  let gateway: CompiledGateway | undefined;
  let server: https.Server | undefined;
  const seen: { servername: string; protocol: string }[] = [];
  printEnvoyLogOnFailure(() => [gateway?.envoy]);
  before(async () => {
    pki = await createCertificateChainSet({ name: "auto-sni", serverHosts: [host] });
    server = https.createServer({ cert: pki.server.fullChainPem, key: pki.server.privateKeyPem }, (request, response) => {
      const socket = request.socket as TLSSocket;
      seen.push({ servername: typeof socket.servername === "string" ? socket.servername : "", protocol: socket.getProtocol() ?? "" });
      response.writeHead(200, { "content-type": "text/plain" }).end("auto-sni\n");
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  });
  after(async () => {
    await gateway?.stop();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  test("the upstream gets the request's Host as SNI, over TLS 1.3", async () => {
    const port = (server!.address() as { port: number }).port;
    const withoutSni = gatewayAndRoute.map((doc) => doc.replace(/\n\s+sni: [^\n]+/, "").replace("sni: backend.istioinaction.io, ", ""));
    assert.ok(!withoutSni.some((doc) => doc.includes("sni:")), "the DestinationRule must not set sni");
    gateway = await startCompiledGateway({
      name: "tls-origination-auto-sni",
      namespace,
      manifests: [...withoutSni, serviceManifest("backend", namespace, 80, [{ host: "127.0.0.1", port }]), secretManifest("istio-system", "backend-ca-cacert", { "ca.crt": pki.root.certificatePem })],
    });
    const ok = await waitFor(
      async () => {
        const response = await httpRequest({ url: gateway!.url(80, "/"), headers: { host } });
        return response.status === 200 ? response : undefined;
      },
      { timeoutMs: 15_000, what: "200 through TLS origination" },
    );
    assert.equal(ok.body, "auto-sni\n");
    assert.deepEqual(seen.at(-1), { servername: host, protocol: "TLSv1.3" });
  });
});
