/**
 * TLS credentials on a real apiserver, the operator as a process under config/rbac: the labs'
 * Gateway (coolstore-gw-tls.yaml) with `webapp-credential` in istio-system; rotation changes only
 * the -sds Secret; garbage, an expired certificate, a key that does not match → ResolvedRefs=False
 * and a Warning Event on the Gateway naming the Secret and the problem, the HTTP server still
 * published; a certificate expiring within 14 days → a warning Event; the expiry metric.
 * Certificates from src/pki.
 */
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import tls from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump } from "js-yaml";
import { createCa, issueCertificate } from "../../../src/pki/index.js";
import type { CertificateAuthority } from "../../../src/pki/index.js";
import { installCrds } from "../../support/crds.js";
import { startControlPlane } from "../../support/control-plane.js";
import type { ControlPlane } from "../../support/control-plane.js";
import { labPath, labsSkip } from "../../support/labs.js";
import { freePort, httpRequest, waitFor } from "../../support/net.js";
import { repoRoot } from "../../support/paths.js";
import { operatorKubeconfig } from "./support/identity.js";
import { startOperator } from "./support/operator-process.js";
import type { OperatorProcess } from "./support/operator-process.js";
import { startGatewayEnvoy } from "./support/gateway-envoy.js";
import type { GatewayEnvoy } from "./support/gateway-envoy.js";
import { ProjectedVolume, payloadOf } from "./support/projected-volume.js";

const ns = "istioinaction";
const proxy = "istio-ingressgateway";
const host = "webapp.istioinaction.io";
const groups = ["lds", "rds", "cds", "eds", "sds"] as const;
const DAY = 24 * 60 * 60 * 1000;

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration: number;
}
interface EventObject {
  reason: string;
  message: string;
  type: string;
  involvedObject: { kind: string; name: string };
}

describe("TLS credential reconciler", { skip: labsSkip() }, () => {
  let controlPlane: ControlPlane;
  let work: string;
  let operator: OperatorProcess | undefined;
  let ca: CertificateAuthority;
  let envoy: GatewayEnvoy | undefined;
  let volume: ProjectedVolume;
  let httpPort: number;
  let httpsPort: number;
  let adminPort: number;
  let statusPort: number;

  /** kubelet's sync of the five objects into the directory Envoy reads. */
  const syncVolume = async (): Promise<void> => volume.sync(payloadOf([...(await published()).values()] as never));
  /** The serial number of the certificate Envoy presents for SNI webapp.istioinaction.io. */
  const presentedSerial = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const socket = tls.connect({ host: "127.0.0.1", port: httpsPort, servername: host, rejectUnauthorized: false }, () => {
        const serial = socket.getPeerCertificate().serialNumber;
        socket.end();
        resolve(serial);
      });
      socket.setTimeout(5000, () => socket.destroy(new Error("TLS handshake timed out")));
      socket.on("error", reject);
    });
  const serialOf = (pem: string): string => new X509Certificate(pem).serialNumber;

  const secret = (certificatePem: string, privateKeyPem: string): Promise<string> =>
    controlPlane.kubectlOk(["apply", "-f", "-"], {
      input: dump({ apiVersion: "v1", kind: "Secret", metadata: { name: "webapp-credential", namespace: "istio-system" }, type: "kubernetes.io/tls", stringData: { "tls.crt": certificatePem, "tls.key": privateKeyPem } }),
    });
  const leaf = (options: { now?: Date; validityDays?: number; hosts?: string[] } = {}) =>
    issueCertificate(ca, { commonName: options.hosts?.[0] ?? host, dnsNames: options.hosts ?? [host], usage: "server", now: options.now, validityDays: options.validityDays });
  const resolvedRefs = async (): Promise<Condition | undefined> => {
    const object = JSON.parse(await controlPlane.kubectlOk(["get", "gateway", "coolstore-gateway", "-n", ns, "-o", "json"])) as { metadata: { generation: number }; status?: { conditions?: Condition[] } };
    const condition = object.status?.conditions?.find((c) => c.type === "ResolvedRefs");
    return condition?.observedGeneration === object.metadata.generation ? condition : undefined;
  };
  const waitResolvedRefs = (status: string, pattern?: RegExp): Promise<Condition> =>
    waitFor(async () => {
      const condition = await resolvedRefs();
      return condition?.status === status && (!pattern || pattern.test(condition.message)) ? condition : undefined;
    }, { timeoutMs: 30_000, intervalMs: 100, what: `ResolvedRefs=${status}${pattern ? ` matching ${pattern}` : ""}` });
  const gatewayEvents = async (): Promise<EventObject[]> =>
    (JSON.parse(await controlPlane.kubectlOk(["get", "events", "-n", ns, "--field-selector", "involvedObject.kind=Gateway,involvedObject.name=coolstore-gateway", "-o", "json"])) as { items: EventObject[] }).items;
  const waitEvent = (reason: string, pattern: RegExp): Promise<EventObject> =>
    waitFor(async () => (await gatewayEvents()).find((event) => event.reason === reason && pattern.test(event.message)), { timeoutMs: 30_000, intervalMs: 100, what: `Event ${reason} ${pattern}` });
  const published = async (): Promise<Map<string, { metadata: { resourceVersion: string }; data?: Record<string, string> }>> => {
    const items = (JSON.parse(await controlPlane.kubectlOk(["get", "configmaps,secrets", "-n", "istio-system", "-l", `pilotfish.io/proxy=${proxy}`, "-o", "json"])) as { items: { metadata: { name: string; resourceVersion: string }; data?: Record<string, string> }[] }).items;
    return new Map(items.map((item) => [item.metadata.name.slice(`pilotfish-${proxy}-`.length), item]));
  };
  const expiryMetric = async (): Promise<number | undefined> => {
    const text = (await operator?.metrics()) ?? "";
    const match = /^pilotfish_credential_expiry_seconds\{namespace="istio-system",name="webapp-credential"\} (-?[\d.e+]+)$/m.exec(text);
    return match ? Number(match[1]) : undefined;
  };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "pilotfish-credentials-test-"));
    controlPlane = await startControlPlane();
    await installCrds(controlPlane);
    const kubeconfig = await operatorKubeconfig(controlPlane, work);
    await controlPlane.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway", "deployment.yaml")]);
    await controlPlane.kubectlOk(["create", "namespace", ns]);
    await controlPlane.kubectlOk(["apply", "-f", "-"], { input: dump({ apiVersion: "v1", kind: "Service", metadata: { name: "webapp", namespace: ns }, spec: { selector: { app: "webapp" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] } }) });
    // Envoy runs on this host: the Service maps 80/443 to free ports (the chart's Service would map them to 8080/8443).
    httpPort = await freePort();
    httpsPort = await freePort();
    adminPort = await freePort();
    statusPort = await freePort();
    await controlPlane.kubectlOk(["apply", "--server-side", "--field-manager=helm", "-f", "-"], {
      input: dump({ apiVersion: "v1", kind: "Service", metadata: { name: proxy, namespace: "istio-system" }, spec: { selector: { istio: "ingressgateway" }, ports: [{ name: "http2", port: 80, targetPort: httpPort }, { name: "https", port: 443, targetPort: httpsPort }] } }),
    });
    volume = new ProjectedVolume(join(work, "proxy"));
    const root = await createCa({ commonName: "credentials root CA" });
    ca = await createCa({ commonName: "credentials intermediate CA", issuer: root });
    operator = await startOperator({ kubeconfig, proxyConfigDir: join(work, "proxy"), proxyAdminPort: adminPort, proxyStatusPort: statusPort });
  });

  afterEach((context) => {
    if ((context as { passed?: boolean }).passed !== false) return;
    process.stderr.write(`\n----- operator output (${context.name}) -----\n${operator?.process.output.text().split("\n").slice(-60).join("\n")}\n`);
  });

  after(async () => {
    await envoy?.stop();
    await operator?.stop();
    await controlPlane?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("L3: a valid credential resolves, a real Envoy presents it; the expiry metric shows the time left", async () => {
    const issued = await leaf({ validityDays: 90 });
    await secret(issued.fullChainPem, issued.privateKeyPem);
    await controlPlane.kubectlOk(["apply", "-n", ns, "-f", labPath("ch4", "coolstore-gw-tls.yaml"), "-f", labPath("ch4", "coolstore-vs.yaml")]);
    await waitResolvedRefs("True");
    await waitFor(async () => (Object.keys((await published()).get("sds")?.data ?? {}).length > 0 ? true : undefined), { timeoutMs: 30_000, what: "the credential in -sds" });
    const seconds = await waitFor(async () => await expiryMetric(), { timeoutMs: 30_000, what: "pilotfish_credential_expiry_seconds" });
    assert.ok(seconds > 80 * DAY / 1000 && seconds <= 90 * DAY / 1000, `expiry seconds ${seconds}`);
    // A real Envoy on the projected directory presents it.
    await syncVolume();
    envoy = await startGatewayEnvoy({ configDir: join(work, "proxy"), adminPort, statusPort });
    const expected = serialOf(issued.certificatePem);
    await waitFor(async () => ((await presentedSerial().catch(() => "")) === expected ? true : undefined), { timeoutMs: 20_000, intervalMs: 200, what: "Envoy presents the credential" });
  });

  test("rotation: only -sds changes; the same Envoy presents the new certificate with no listener change", async () => {
    const before = await published();
    const rotated = await leaf({ validityDays: 60 });
    await secret(rotated.fullChainPem, rotated.privateKeyPem);
    await waitFor(async () => ((await published()).get("sds")?.metadata.resourceVersion !== before.get("sds")?.metadata.resourceVersion ? true : undefined), { timeoutMs: 30_000, what: "-sds rewritten" });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const after = await published();
    const changed = groups.filter((group) => after.get(group)?.metadata.resourceVersion !== before.get(group)?.metadata.resourceVersion);
    assert.deepEqual(changed, ["sds"]);
    const sds = Buffer.from(Object.values(after.get("sds")?.data ?? {})[0] ?? "", "base64").toString("utf8");
    assert.ok(sds.includes(rotated.certificatePem.split("\n")[1] ?? "missing"), "the rotated certificate is what -sds holds");
    await waitFor(async () => ((await expiryMetric()) ?? 0) < 61 * DAY / 1000 ? true : undefined, { timeoutMs: 30_000, what: "expiry metric follows the rotation" });
    // A new handshake presents the new certificate: same Envoy process, no listener change.
    const pid = envoy?.process.child.pid;
    const modified = await envoy?.stat("listener_manager.listener_modified");
    await syncVolume();
    const expected = serialOf(rotated.certificatePem);
    await waitFor(async () => ((await presentedSerial().catch(() => "")) === expected ? true : undefined), { timeoutMs: 20_000, intervalMs: 200, what: "Envoy presents the rotated certificate" });
    assert.equal(envoy?.process.child.pid, pid, "Envoy not restarted");
    assert.equal(await envoy?.stat("listener_manager.listener_modified"), modified, "no listener change");
  });

  test("garbage: ResolvedRefs=False and an Event naming the Secret; the HTTP server stays published", async () => {
    await secret("not a certificate", "not a key");
    const condition = await waitResolvedRefs("False", /webapp-credential/);
    assert.equal(condition.reason, "InvalidCredential");
    await waitEvent("InvalidCredential", /webapp-credential.*(PEM|CERTIFICATE)/);
    const lds = Object.values((await published()).get("lds")?.data ?? {}).join("\n");
    assert.doesNotMatch(lds, new RegExp(`0\\.0\\.0\\.0_${httpsPort}`));
    assert.match(lds, new RegExp(`0\\.0\\.0\\.0_${httpPort}`));
    // The HTTP server still serves after the sync (no endpoints behind webapp: Envoy's 503, not a refused connection).
    await syncVolume();
    const response = await waitFor(async () => {
      const answer = await httpRequest({ url: `http://127.0.0.1:${httpPort}/`, headers: { host }, timeoutMs: 5000 }).catch(() => undefined);
      return answer && answer.status === 503 ? answer : undefined;
    }, { timeoutMs: 20_000, intervalMs: 200, what: "the HTTP server answering" });
    assert.equal(response.status, 503);
  });

  test("an expired certificate and a key that does not match are named as such", async () => {
    const expired = await leaf({ now: new Date(Date.now() - 400 * DAY), validityDays: 30 });
    await secret(expired.fullChainPem, expired.privateKeyPem);
    const condition = await waitResolvedRefs("False", /expired at/);
    assert.match(condition.message, /Secret istio-system\/webapp-credential .*expired at \d{4}-/);
    await waitEvent("CredentialExpired", /Secret istio-system\/webapp-credential .*expired at/);
    assert.ok(((await expiryMetric()) ?? 0) < 0, "negative seconds for an expired certificate");

    const one = await leaf({ validityDays: 90 });
    const other = await leaf({ validityDays: 90 });
    await secret(one.fullChainPem, other.privateKeyPem);
    await waitResolvedRefs("False", /does not belong/);
    await waitEvent("InvalidCredential", /webapp-credential.*does not belong/);
  });

  test("a certificate expiring within 14 days resolves, with a warning Event; SANs not covering the host warn too", async () => {
    const soon = await leaf({ validityDays: 7, hosts: ["other.istioinaction.io"] });
    await secret(soon.fullChainPem, soon.privateKeyPem);
    await waitResolvedRefs("True");
    const event = await waitEvent("CredentialExpiringSoon", /Secret istio-system\/webapp-credential .*under 14 days/);
    assert.equal(event.type, "Warning");
    await waitEvent("CredentialHostMismatch", /do not cover webapp\.istioinaction\.io/);
    // De-duplicated: a further unrelated change sends no second Event for the same problem.
    await controlPlane.kubectlOk(["label", "--overwrite", "service", "webapp", "-n", ns, "touched=yes"]);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    assert.equal((await gatewayEvents()).filter((e) => e.reason === "CredentialExpiringSoon").length, 1);
    // Written through events.k8s.io/v1.
    const native = (JSON.parse(await controlPlane.kubectlOk(["get", "events.v1.events.k8s.io", "-n", ns, "-o", "json"])) as { items: { reason: string; reportingController: string; regarding: { kind: string; name: string } }[] }).items;
    const nativeSoon = native.find((e) => e.reason === "CredentialExpiringSoon");
    assert.equal(nativeSoon?.reportingController, "pilotfish.io/operator");
    assert.deepEqual([nativeSoon?.regarding.kind, nativeSoon?.regarding.name], ["Gateway", "coolstore-gateway"]);
  });
});
