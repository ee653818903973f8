import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createCertificateChainSet } from "../../../src/pki/index.js";
import type { CertificateChainSet } from "../../../src/pki/index.js";
import { buildSnapshot } from "../../../src/model/snapshot.js";
import type { Secret } from "../../../src/model/kube.js";
import { resolveCredential } from "../../../src/compile/tls/credentials.js";
import type { CredentialRequest } from "../../../src/compile/tls/credentials.js";

const b64 = (text: string) => Buffer.from(text).toString("base64");

function secret(namespace: string, name: string, data: Record<string, string>, type = "Opaque"): Secret {
  return { metadata: { name, namespace }, type, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) };
}

let pki: CertificateChainSet;
let other: CertificateChainSet;
before(async () => {
  pki = await createCertificateChainSet({ name: "webapp", serverHosts: ["webapp.example.test"] });
  other = await createCertificateChainSet({ name: "other", serverHosts: ["other.example.test"] });
});

function request(secrets: Secret[], overrides: Partial<CredentialRequest> = {}): CredentialRequest {
  return {
    snapshot: buildSnapshot({ secrets }),
    credentialName: "webapp-credential",
    workloadNamespace: "istio-system",
    resourceNamespace: "istioinaction",
    needCertificate: true,
    needCa: false,
    subject: { kind: "Gateway", namespace: "istioinaction", name: "coolstore-gateway", field: "spec.servers[1].tls.credentialName" },
    ...overrides,
  };
}

describe("resolveCredential", () => {
  test("kubernetes.io/tls secret in the workload namespace → kubernetes://<name> with inline PEM", () => {
    const result = resolveCredential(
      request([secret("istio-system", "webapp-credential", { "tls.crt": pki.server.fullChainPem, "tls.key": pki.server.privateKeyPem }, "kubernetes.io/tls")]),
    );
    assert.ok(result.ok);
    assert.equal(result.credential.certificateSecretName, "kubernetes://webapp-credential");
    assert.equal(result.credential.caSecretName, undefined);
    assert.equal(result.credential.namespace, "istio-system");
    assert.deepEqual(result.credential.secrets, [
      {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
        name: "kubernetes://webapp-credential",
        tls_certificate: {
          certificate_chain: { inline_string: pki.server.fullChainPem },
          private_key: { inline_string: pki.server.privateKeyPem },
        },
      },
    ]);
  });

  test("generic secret with cert/key, found in the Gateway's own namespace", () => {
    const result = resolveCredential(request([secret("istioinaction", "webapp-credential", { cert: pki.server.fullChainPem, key: pki.server.privateKeyPem })]));
    assert.ok(result.ok);
    assert.equal(result.credential.namespace, "istioinaction");
    assert.equal(result.credential.certificateSecretName, "kubernetes://webapp-credential");
  });

  test("the workload namespace wins over the Gateway's namespace (Istio's rule first)", () => {
    const result = resolveCredential(
      request([
        secret("istioinaction", "webapp-credential", { "tls.crt": other.server.certificatePem, "tls.key": other.server.privateKeyPem }),
        secret("istio-system", "webapp-credential", { "tls.crt": pki.server.certificatePem, "tls.key": pki.server.privateKeyPem }),
      ]),
    );
    assert.ok(result.ok);
    assert.equal(result.credential.namespace, "istio-system");
    assert.match(JSON.stringify(result.credential.secrets), new RegExp(pki.server.certificatePem.slice(30, 80).replace(/[+/]/g, "\\$&")));
  });

  test("a secret in a third namespace is not used", () => {
    const result = resolveCredential(request([secret("elsewhere", "webapp-credential", { "tls.crt": pki.server.certificatePem, "tls.key": pki.server.privateKeyPem })]));
    assert.equal(result.ok, false);
    const [diagnostic] = result.diagnostics;
    assert.deepEqual(
      { ...diagnostic, message: undefined },
      { severity: "error", kind: "Gateway", namespace: "istioinaction", name: "coolstore-gateway", field: "spec.servers[1].tls.credentialName", message: undefined },
    );
    assert.match(diagnostic?.message ?? "", /not found in namespace "istio-system" or "istioinaction"; create it, e.g. kubectl create -n istio-system secret tls webapp-credential/);
  });

  test("a namespaced credentialName is refused", () => {
    const result = resolveCredential(request([], { credentialName: "elsewhere/webapp-credential" }));
    assert.equal(result.ok, false);
    assert.match(result.diagnostics[0]?.message ?? "", /is not a Secret name.*Secrets in other namespaces are not used/);
  });

  test("MUTUAL: CA from ca.crt of the same secret", () => {
    const result = resolveCredential(
      request(
        [secret("istio-system", "webapp-credential", { "tls.crt": pki.server.fullChainPem, "tls.key": pki.server.privateKeyPem, "ca.crt": pki.server.caChainPem })],
        { needCa: true },
      ),
    );
    assert.ok(result.ok);
    assert.equal(result.credential.caSecretName, "kubernetes://webapp-credential-cacert");
    assert.deepEqual(result.credential.secrets[1], {
      "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
      name: "kubernetes://webapp-credential-cacert",
      validation_context: { trusted_ca: { inline_string: pki.server.caChainPem } },
    });
  });

  test("MUTUAL: a <name>-cacert secret wins over ca.crt in the main secret; cacert key accepted", () => {
    const result = resolveCredential(
      request(
        [
          secret("istio-system", "webapp-credential", { "tls.crt": pki.server.fullChainPem, "tls.key": pki.server.privateKeyPem, "ca.crt": other.root.certificatePem }),
          secret("istio-system", "webapp-credential-cacert", { cacert: pki.root.certificatePem }),
        ],
        { needCa: true },
      ),
    );
    assert.ok(result.ok);
    assert.equal(JSON.stringify(result.credential.secrets[1]).includes(JSON.stringify(pki.root.certificatePem).slice(1, -1)), true);
  });

  test("MUTUAL without any CA → diagnostic explaining both ways to add it", () => {
    const result = resolveCredential(
      request([secret("istio-system", "webapp-credential", { "tls.crt": pki.server.fullChainPem, "tls.key": pki.server.privateKeyPem })], { needCa: true }),
    );
    assert.equal(result.ok, false);
    assert.match(result.diagnostics[0]?.message ?? "", /add key ca.crt to Secret "webapp-credential" or create Secret "webapp-credential-cacert"/);
  });

  test("missing keys, bad PEM and a key that does not match are each refused", () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ "tls.crt": pki.server.certificatePem }, /neither tls.crt\/tls.key nor cert\/key/],
      [{ "tls.crt": "not a pem", "tls.key": pki.server.privateKeyPem }, /key tls.crt holds no PEM CERTIFICATE block/],
      [{ "tls.crt": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "tls.key": pki.server.privateKeyPem }, /certificate #1 does not parse/],
      [{ "tls.crt": pki.server.certificatePem, "tls.key": "garbage" }, /key tls.key is not a PEM private key/],
      [{ "tls.crt": pki.server.certificatePem, "tls.key": other.server.privateKeyPem }, /does not belong to the first certificate/],
      // Chain in the wrong order: the intermediate first.
      [{ "tls.crt": pki.intermediate.certificatePem + pki.server.certificatePem, "tls.key": pki.server.privateKeyPem }, /does not belong to the first certificate/],
    ];
    for (const [data, expected] of cases) {
      const result = resolveCredential(request([secret("istio-system", "webapp-credential", data)]));
      assert.equal(result.ok, false, `expected a refusal for ${Object.keys(data).join(",")}`);
      assert.match(result.diagnostics[0]?.message ?? "", expected);
    }
  });

  test("stringData is read as plain text", () => {
    const s: Secret = { metadata: { name: "webapp-credential", namespace: "istio-system" }, stringData: { "tls.crt": pki.server.certificatePem, "tls.key": pki.server.privateKeyPem } };
    assert.ok(resolveCredential(request([s])).ok);
  });

  test("CA only (upstream verification) needs no certificate", () => {
    const result = resolveCredential(
      request([secret("istio-system", "upstream-ca-cacert", { "ca.crt": pki.root.certificatePem })], { credentialName: "upstream-ca", needCertificate: false, needCa: true }),
    );
    assert.ok(result.ok);
    assert.equal(result.credential.certificateSecretName, undefined);
    assert.equal(result.credential.caSecretName, "kubernetes://upstream-ca-cacert");
  });
});
