/**
 * Status conditions on a real apiserver (no Envoy, no node): the operator as a child process
 * under config/rbac's identity writes Accepted / ResolvedRefs / Programmed on Gateways,
 * VirtualServices and DestinationRules through the status subresource, with the labs' manifests
 * applied unchanged. The tests run in order and build on each other's state.
 */
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump } from "js-yaml";
import { createCertificateChainSet } from "../../../src/pki/index.js";
import { installCrds } from "../../support/crds.js";
import { startControlPlane } from "../../support/control-plane.js";
import type { ControlPlane } from "../../support/control-plane.js";
import { labPath, labsSkip } from "../../support/labs.js";
import { freePort, waitFor } from "../../support/net.js";
import { repoRoot } from "../../support/paths.js";
import { operatorKubeconfig } from "./support/identity.js";
import { startOperator } from "./support/operator-process.js";
import type { OperatorProcess } from "./support/operator-process.js";

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration: number;
  lastTransitionTime: string;
}

interface IstioObject {
  metadata: { name: string; namespace: string; generation: number; managedFields?: { manager: string; subresource?: string }[] };
  status?: { conditions?: Condition[] };
}

const ns = "istioinaction";

describe("status conditions on Gateway, VirtualService, DestinationRule", { skip: labsSkip() }, () => {
  let controlPlane: ControlPlane;
  let work: string;
  let operator: OperatorProcess | undefined;

  const read = async (kind: string, name: string, namespace = ns): Promise<IstioObject> =>
    JSON.parse(await controlPlane.kubectlOk(["get", kind, name, "-n", namespace, "-o", "json", "--show-managed-fields"])) as IstioObject;
  const conditionOf = (object: IstioObject, type: string): Condition | undefined => object.status?.conditions?.find((c) => c.type === type);
  /** Waits until the object's `type` condition has this status (and reason, when given) for its current generation. */
  const waitCondition = (kind: string, name: string, type: string, status: string, reason?: string, namespace = ns): Promise<Condition> =>
    waitFor(
      async () => {
        const object = await read(kind, name, namespace);
        const condition = conditionOf(object, type);
        if (!condition || condition.status !== status || condition.observedGeneration !== object.metadata.generation) return undefined;
        if (reason && condition.reason !== reason) return undefined;
        return condition;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `${kind} ${namespace}/${name} ${type}=${status}${reason ? ` (${reason})` : ""}` },
    );
  const statusWrites = (): string[] => (operator?.logs() ?? []).map((line) => line.message).filter((message) => message.startsWith("status "));
  const apply = (manifest: string, namespace = ns): Promise<string> => controlPlane.kubectlOk(["apply", "-n", namespace, "-f", "-"], { input: manifest });

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "pilotfish-status-test-"));
    controlPlane = await startControlPlane();
    await installCrds(controlPlane);
    const kubeconfig = await operatorKubeconfig(controlPlane, work);
    await controlPlane.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway", "deployment.yaml")]);
    await controlPlane.kubectlOk(["apply", "--server-side", "--field-manager=helm", "-f", join(repoRoot, "config", "gateway", "service.yaml")]);
    await controlPlane.kubectlOk(["create", "namespace", ns]);
    await controlPlane.kubectlOk(["create", "namespace", "other"]);
    for (const name of ["webapp", "catalog"]) {
      await apply(dump({ apiVersion: "v1", kind: "Service", metadata: { name, namespace: ns }, spec: { selector: { app: name }, ports: [{ name: "http", port: 80, targetPort: 8080 }] } }));
    }
    const pki = await createCertificateChainSet({ name: "webapp", serverHosts: ["webapp.istioinaction.io"] });
    await controlPlane.kubectlOk(["create", "secret", "tls", "webapp-credential", "-n", "istio-system", `--cert=${writeTemp("tls.crt", pki.server.fullChainPem)}`, `--key=${writeTemp("tls.key", pki.server.privateKeyPem)}`]);
    operator = await startOperator({ kubeconfig, proxyConfigDir: join(work, "proxy"), proxyAdminPort: await freePort(), proxyStatusPort: await freePort() });
  });

  const writeTemp = (name: string, content: string): string => {
    const path = join(work, name);
    writeFileSync(path, content);
    return path;
  };

  afterEach((context) => {
    if ((context as { passed?: boolean }).passed !== false) return;
    process.stderr.write(`\n----- operator output (${context.name}) -----\n${operator?.process.output.text().split("\n").slice(-60).join("\n")}\n`);
  });

  after(async () => {
    await operator?.stop();
    await controlPlane?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("L1/L2: the lab's Gateway and VirtualService are Accepted, ResolvedRefs and Programmed", async () => {
    await controlPlane.kubectlOk(["apply", "-n", ns, "-f", labPath("ch4", "coolstore-gw.yaml"), "-f", labPath("ch4", "coolstore-vs.yaml")]);
    for (const type of ["Accepted", "ResolvedRefs", "Programmed"]) {
      await waitCondition("gateway", "coolstore-gateway", type, "True", type);
      await waitCondition("virtualservice", "webapp-vs-from-gw", type, "True", type);
    }
    const gateway = await read("gateway", "coolstore-gateway");
    assert.match(conditionOf(gateway, "Programmed")?.message ?? "", /published to gateway proxy istio-system\/istio-ingressgateway/);
    assert.ok(conditionOf(gateway, "Accepted")?.lastTransitionTime);
    // Only the status subresource is written, by pilotfish.
    const pilotfishFields = (gateway.metadata.managedFields ?? []).filter((field) => field.manager === "pilotfish");
    assert.deepEqual(pilotfishFields.map((field) => field.subresource), ["status"]);
    // kubectl get shows the programmed state.
    const table = await controlPlane.kubectlOk(["get", "gw,vs", "-n", ns]);
    assert.match(table, /ACCEPTED\s+PROGRAMMED\s+AGE/);
    assert.match(table, /coolstore-gateway\s+True\s+True/);
    assert.match(table, /webapp-vs-from-gw\s+\["coolstore-gateway"\]\s+\["webapp.istioinaction.io"\]\s+True/);
  });

  test("a destination host with no Service: ResolvedRefs=False with a hint; fixed: True again", async () => {
    const vs = (host: string): string =>
      dump({
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name: "webapp-vs-from-gw", namespace: ns },
        spec: { hosts: ["webapp.istioinaction.io"], gateways: ["coolstore-gateway"], http: [{ route: [{ destination: { host, port: { number: 80 } } }] }] },
      });
    await apply(vs("webap"));
    const broken = await waitCondition("virtualservice", "webapp-vs-from-gw", "ResolvedRefs", "False", "BackendNotFound");
    assert.match(broken.message, /VirtualService istioinaction\/webapp-vs-from-gw: .*destination host 'webap' has no Service in namespace istioinaction \(did you mean 'webapp'\?\)/);
    await apply(vs("webapp"));
    await waitCondition("virtualservice", "webapp-vs-from-gw", "ResolvedRefs", "True", "ResolvedRefs");
  });

  test("a VirtualService naming a missing Gateway, and an invalid one, are not Accepted", async () => {
    await apply(dump({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "orphan", namespace: ns }, spec: { hosts: ["x.example"], gateways: ["nope"], http: [{ route: [{ destination: { host: "webapp" } }] }] } }));
    const orphan = await waitCondition("virtualservice", "orphan", "Accepted", "False", "GatewayNotFound");
    assert.match(orphan.message, /gateway istioinaction\/nope not found/);
    await waitCondition("virtualservice", "orphan", "Programmed", "False", "NoMatchingProxy");
    await apply(dump({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "bad-regex", namespace: ns }, spec: { hosts: ["y.example"], gateways: ["coolstore-gateway"], http: [{ match: [{ uri: { regex: "/bad(" } }], route: [{ destination: { host: "webapp" } }] }] } }));
    const invalid = await waitCondition("virtualservice", "bad-regex", "Accepted", "False", "Invalid");
    assert.match(invalid.message, /regex/);
    await controlPlane.kubectlOk(["delete", "virtualservice", "orphan", "bad-regex", "-n", ns]);
  });

  test("a DestinationRule for a routed host is Programmed; one for an unrouted host is not", async () => {
    const dr = (name: string, host: string): string => dump({ apiVersion: "networking.istio.io/v1", kind: "DestinationRule", metadata: { name, namespace: ns }, spec: { host, trafficPolicy: { loadBalancer: { simple: "ROUND_ROBIN" } } } });
    await apply(dr("webapp", "webapp"));
    await apply(dr("catalog", "catalog"));
    await waitCondition("destinationrule", "webapp", "Programmed", "True", "Programmed");
    await waitCondition("destinationrule", "catalog", "Programmed", "False", "NoMatchingProxy");
    const table = await controlPlane.kubectlOk(["get", "dr", "-n", ns]);
    assert.match(table, /webapp\s+webapp\s+True/);
  });

  test("L7: the later Gateway claiming the same TLS host is not Accepted (DuplicateHost); the first stays Programmed", async () => {
    await controlPlane.kubectlOk(["apply", "-n", ns, "-f", labPath("ch4", "coolstore-gw-tls.yaml")]);
    await waitCondition("gateway", "coolstore-gateway", "ResolvedRefs", "True");
    await apply(
      dump({
        apiVersion: "networking.istio.io/v1",
        kind: "Gateway",
        metadata: { name: "copycat-gateway", namespace: "other" },
        spec: {
          selector: { istio: "ingressgateway" },
          servers: [{ port: { number: 443, name: "https", protocol: "HTTPS" }, hosts: ["webapp.istioinaction.io"], tls: { mode: "SIMPLE", credentialName: "webapp-credential" } }],
        },
      }),
      "other",
    );
    const duplicate = await waitCondition("gateway", "copycat-gateway", "Accepted", "False", "DuplicateHost", "other");
    assert.match(duplicate.message, /duplicate host names: webapp.istioinaction.io/);
    const first = await read("gateway", "coolstore-gateway");
    assert.equal(conditionOf(first, "Accepted")?.status, "True");
    assert.equal(conditionOf(first, "Programmed")?.status, "True");
    await controlPlane.kubectlOk(["delete", "gateway", "copycat-gateway", "-n", "other"]);
  });

  test("a missing credential: ResolvedRefs=False naming the Secret", async () => {
    await apply(
      dump({
        apiVersion: "networking.istio.io/v1",
        kind: "Gateway",
        metadata: { name: "catalog-gateway", namespace: ns },
        spec: {
          selector: { istio: "ingressgateway" },
          servers: [{ port: { number: 443, name: "https-catalog", protocol: "HTTPS" }, hosts: ["catalog.istioinaction.io"], tls: { mode: "SIMPLE", credentialName: "catalog-credential" } }],
        },
      }),
    );
    const missing = await waitCondition("gateway", "catalog-gateway", "ResolvedRefs", "False", "InvalidCredential");
    assert.match(missing.message, /catalog-credential/);
    await controlPlane.kubectlOk(["delete", "gateway", "catalog-gateway", "-n", ns]);
  });

  test("status writes do not loop: a quiet period writes nothing; one spec change costs one write", async () => {
    await waitFor(async () => (conditionOf(await read("virtualservice", "webapp-vs-from-gw"), "Programmed")?.status === "True" ? true : undefined), { timeoutMs: 30_000, what: "settled" });
    // Settle: the last write seen, then a quiet period with no write at all.
    let count = statusWrites().length;
    await waitFor(
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 1500));
        const now = statusWrites().length;
        const quiet = now === count;
        count = now;
        return quiet ? true : undefined;
      },
      { timeoutMs: 30_000, what: "no status write for 1.5 s" },
    );
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.equal(statusWrites().length, count, "no status write while nothing changes");
    // One VirtualService edited: its observedGeneration moves, nothing else's status changes.
    await controlPlane.kubectlOk(["label", "--overwrite", "virtualservice", "webapp-vs-from-gw", "-n", ns, "touched=yes"]);
    await controlPlane.kubectlOk(["patch", "virtualservice", "webapp-vs-from-gw", "-n", ns, "--type=merge", "-p", JSON.stringify({ spec: { http: [{ timeout: "5s", route: [{ destination: { host: "webapp", port: { number: 80 } } }] }] } })]);
    const edited = await read("virtualservice", "webapp-vs-from-gw");
    await waitCondition("virtualservice", "webapp-vs-from-gw", "Programmed", "True", "Programmed");
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const added = statusWrites().slice(count);
    assert.deepEqual(added.map((line) => line.split(":")[0]), ["status VirtualService istioinaction/webapp-vs-from-gw"], `writes after one edit: ${added.join(" | ")}`);
    assert.equal(conditionOf(await read("virtualservice", "webapp-vs-from-gw"), "Programmed")?.observedGeneration, edited.metadata.generation);
  });
});
