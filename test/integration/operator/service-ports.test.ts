/**
 * Lab L8 without `kubectl edit svc`: the operator adds the Gateway's TCP port to the ingress
 * Service by server-side apply (field manager pilotfish), the chart's ports and fields untouched
 * (managedFields compared), and a TCP connection through a real Envoy reaches the echo upstream
 * in a network-namespace pod. NodePort pinning by annotation, a NodePort the Service cannot take
 * (→ Gateway condition, no loop), and removal when the Gateway goes. Real apiserver, no node.
 */
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump } from "js-yaml";
import { installCrds } from "../../support/crds.js";
import { startControlPlane } from "../../support/control-plane.js";
import type { ControlPlane } from "../../support/control-plane.js";
import { endpointSliceManifest } from "../../support/cluster-fixtures.js";
import { labPath, labsSkip } from "../../support/labs.js";
import { freePort, waitFor } from "../../support/net.js";
import { repoRoot } from "../../support/paths.js";
import { startPodNetwork, startPodUpstream } from "../../support/pods.js";
import type { PodNetwork, PodUpstream } from "../../support/pods.js";
import { startGatewayEnvoy } from "./support/gateway-envoy.js";
import type { GatewayEnvoy } from "./support/gateway-envoy.js";
import { operatorKubeconfig } from "./support/identity.js";
import { startOperator } from "./support/operator-process.js";
import type { OperatorProcess } from "./support/operator-process.js";
import { ProjectedVolume, payloadOf } from "./support/projected-volume.js";

interface ServicePort {
  name?: string;
  port: number;
  targetPort: number | string;
  nodePort?: number;
  protocol: string;
}
interface ManagedField {
  manager: string;
  operation: string;
  subresource?: string;
  fieldsV1?: { "f:spec"?: { "f:ports"?: Record<string, unknown> } & Record<string, unknown> } & Record<string, unknown>;
}
interface ServiceObject {
  metadata: { resourceVersion: string; managedFields?: ManagedField[] };
  spec: { type: string; externalTrafficPolicy?: string; ports: ServicePort[] };
}

const ns = "istioinaction";
const proxy = "istio-ingressgateway";

describe("ingress Service ports follow the Gateways (L8)", { skip: labsSkip() }, () => {
  let controlPlane: ControlPlane;
  let work: string;
  let operator: OperatorProcess | undefined;
  let envoy: GatewayEnvoy | undefined;
  let network: PodNetwork | undefined;
  let echo: PodUpstream | undefined;
  let volume: ProjectedVolume;
  let adminPort: number;
  let statusPort: number;
  let chart: ServiceObject;

  const service = async (): Promise<ServiceObject> =>
    JSON.parse(await controlPlane.kubectlOk(["get", "service", proxy, "-n", "istio-system", "-o", "json", "--show-managed-fields"])) as ServiceObject;
  const managerFields = (object: ServiceObject, manager: string): ManagedField[] => (object.metadata.managedFields ?? []).filter((field) => field.manager === manager);
  const chartPorts = (object: ServiceObject): ServicePort[] => object.spec.ports.filter((port) => [15021, 80, 443].includes(port.port));
  const gatewayCondition = async (name: string, type: string): Promise<{ status: string; reason: string; message: string } | undefined> => {
    const object = JSON.parse(await controlPlane.kubectlOk(["get", "gateway", name, "-n", ns, "-o", "json"])) as { status?: { conditions?: { type: string; status: string; reason: string; message: string }[] } };
    return object.status?.conditions?.find((c) => c.type === type);
  };
  const published = async (): Promise<Record<string, unknown>[]> =>
    (JSON.parse(await controlPlane.kubectlOk(["get", "configmaps,secrets", "-n", "istio-system", "-l", `pilotfish.io/proxy=${proxy}`, "-o", "json"])) as { items: Record<string, unknown>[] }).items;
  const portLines = (): string[] => (operator?.logs() ?? []).map((line) => line.message).filter((message) => message.startsWith("service ports applied"));

  /** Opens a TCP connection to the Envoy listener, sends a line, resolves with everything read until the echo came back. */
  const echoThrough = (port: number, payload: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port });
      let received = "";
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no echo within 5 s; got ${JSON.stringify(received)}`));
      }, 5000);
      socket.on("connect", () => socket.write(payload));
      socket.on("data", (chunk) => {
        received += chunk.toString("utf8");
        if (received.includes(payload)) {
          clearTimeout(timer);
          socket.end();
          resolve(received);
        }
      });
      socket.on("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "pilotfish-service-ports-test-"));
    controlPlane = await startControlPlane();
    await installCrds(controlPlane);
    const kubeconfig = await operatorKubeconfig(controlPlane, work);
    await controlPlane.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway", "deployment.yaml")]);
    // L0: the chart's Service, owned by another field manager.
    await controlPlane.kubectlOk(["apply", "--server-side", "--field-manager=helm", "-f", join(repoRoot, "config", "gateway", "service.yaml")]);
    chart = await service();
    await controlPlane.kubectlOk(["create", "namespace", ns]);
    network = await startPodNetwork();
    const pod = await network.createPod("tcp-echo-0");
    echo = await startPodUpstream(pod, "tcp-echo", { port: 2701, name: "tcp-echo-0" });
    await controlPlane.kubectlOk(["apply", "-n", ns, "-f", labPath("ch4", "echo.yaml")]);
    await controlPlane.kubectlOk(["apply", "-f", "-"], {
      input: dump(endpointSliceManifest({ namespace: ns, name: "tcp-echo-service", ports: [{ name: "", port: 2701, targetPort: 2701 }], endpoints: [{ address: pod.address }] })),
    });
    adminPort = await freePort();
    statusPort = await freePort();
    volume = new ProjectedVolume(join(work, "proxy"));
    operator = await startOperator({ kubeconfig, proxyConfigDir: join(work, "proxy"), proxyAdminPort: adminPort, proxyStatusPort: statusPort });
  });

  afterEach((context) => {
    if ((context as { passed?: boolean }).passed !== false) return;
    process.stderr.write(`\n----- operator output (${context.name}) -----\n${operator?.process.output.text().split("\n").slice(-60).join("\n")}\n`);
    if (envoy) process.stderr.write(`----- Envoy log -----\n${envoy.log().split("\n").slice(-40).join("\n")}\n`);
  });

  after(async () => {
    await envoy?.stop();
    await operator?.stop();
    await echo?.stop();
    await network?.destroy();
    await controlPlane?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("L0: with no Gateway the operator leaves the chart's Service alone", async () => {
    await waitFor(async () => ((await published()).length === 5 ? true : undefined), { timeoutMs: 30_000, what: "first publish" });
    const now = await service();
    assert.equal(now.metadata.resourceVersion, chart.metadata.resourceVersion);
    assert.deepEqual(managerFields(now, "pilotfish"), []);
  });

  test("L8: gateway-tcp.yaml + echo-vs.yaml → tcp-31400 with an allocated NodePort; bytes echoed through Envoy", async () => {
    await controlPlane.kubectlOk(["apply", "-n", ns, "-f", labPath("ch4", "gateway-tcp.yaml"), "-f", labPath("ch4", "echo-vs.yaml")]);
    const withPort = await waitFor(async () => {
      const now = await service();
      return now.spec.ports.some((port) => port.port === 31400) ? now : undefined;
    }, { timeoutMs: 30_000, intervalMs: 100, what: "port 31400 on the Service" });
    const added = withPort.spec.ports.find((port) => port.port === 31400);
    assert.equal(added?.name, "tcp-31400");
    assert.equal(added?.targetPort, 31400);
    assert.equal(added?.protocol, "TCP");
    assert.ok(added?.nodePort && added.nodePort >= 30000 && added.nodePort <= 32767, `nodePort allocated: ${added?.nodePort}`);
    // The chart's ports, type and policy unchanged, and still the chart's.
    assert.deepEqual(chartPorts(withPort), chartPorts(chart));
    assert.equal(withPort.spec.type, "NodePort");
    assert.equal(withPort.spec.externalTrafficPolicy, "Local");
    assert.deepEqual(managerFields(withPort, "helm").map((field) => field.fieldsV1), managerFields(chart, "helm").map((field) => field.fieldsV1));
    const ours = managerFields(withPort, "pilotfish");
    assert.equal(ours.length, 1);
    assert.equal(ours[0]?.operation, "Apply");
    assert.deepEqual(Object.keys(ours[0]?.fieldsV1?.["f:spec"]?.["f:ports"] ?? {}).filter((key) => key.startsWith("k:")), ['k:{"port":31400,"protocol":"TCP"}']);

    // Real traffic: the projected config, a real Envoy on 0.0.0.0:31400, the echo pod behind it.
    await waitFor(async () => ((await published()).some((object) => JSON.stringify(object).includes("0.0.0.0_31400")) ? true : undefined), { timeoutMs: 30_000, what: "the 31400 listener published" });
    await volume.sync(payloadOf((await published()) as never));
    envoy = await startGatewayEnvoy({ configDir: join(work, "proxy"), adminPort, statusPort });
    const reply = await waitFor(async () => {
      try {
        return await echoThrough(31400, "hello pilotfish\n");
      } catch {
        return undefined;
      }
    }, { timeoutMs: 20_000, intervalMs: 250, what: "an echo through Envoy's 31400 listener" });
    assert.match(reply, /Welcome, you are connected to node tcp-echo-0/);
    assert.match(reply, /hello pilotfish/);
    assert.equal((await gatewayCondition("echo-tcp-gateway", "Programmed"))?.status, "True");
  });

  test("a pinned NodePort (annotation) is applied; one the Service cannot take → Gateway condition, no loop", async () => {
    // An annotation alone is picked up (pins count as a change of the Gateway).
    await controlPlane.kubectlOk(["annotate", "gateway", "echo-tcp-gateway", "-n", ns, "pilotfish.io/node-port-31400=31999"]);
    await waitFor(async () => ((await service()).spec.ports.find((port) => port.port === 31400)?.nodePort === 31999 ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: "nodePort 31999 pinned on tcp-31400",
    });
    // A second server whose pinned NodePort is the chart's 30000.
    await controlPlane.kubectlOk(["annotate", "gateway", "echo-tcp-gateway", "-n", ns, "pilotfish.io/node-port-31401=30000"]);
    await controlPlane.kubectlOk(["patch", "gateway", "echo-tcp-gateway", "-n", ns, "--type=merge", "-p", JSON.stringify({ spec: { servers: [{ port: { number: 31400, name: "tcp-echo", protocol: "TCP" }, hosts: ["*"] }, { port: { number: 31401, name: "tcp-taken", protocol: "TCP" }, hosts: ["*"] }] } })]);
    const condition = await waitFor(async () => {
      const c = await gatewayCondition("echo-tcp-gateway", "Programmed");
      return c?.reason === "ServicePortRejected" ? c : undefined;
    }, { timeoutMs: 30_000, intervalMs: 100, what: "Programmed=False ServicePortRejected" });
    assert.equal(condition.status, "False");
    assert.match(condition.message, /tcp-31401 \(31401, nodePort 30000\).*30000/);
    const now = await service();
    assert.ok(!now.spec.ports.some((port) => port.port === 31401), "31401 (nodePort 30000 is the chart's) not added");
    assert.equal(now.spec.ports.find((port) => port.port === 31400)?.nodePort, 31999);
    // No loop: the number of applies stays put.
    const applies = portLines().length;
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.equal(portLines().length, applies);
    assert.deepEqual(chartPorts(await service()), chartPorts(chart));
  });

  test("deleting the Gateway removes the ports pilotfish added; the chart's stay", async () => {
    await controlPlane.kubectlOk(["delete", "gateway", "echo-tcp-gateway", "-n", ns]);
    const after = await waitFor(async () => {
      const now = await service();
      return now.spec.ports.some((port) => port.port === 31400) ? undefined : now;
    }, { timeoutMs: 30_000, intervalMs: 100, what: "port 31400 removed" });
    assert.deepEqual(after.spec.ports, chart.spec.ports);
    assert.equal(after.spec.externalTrafficPolicy, "Local");
    assert.deepEqual(managerFields(after, "helm").map((field) => field.fieldsV1), managerFields(chart, "helm").map((field) => field.fieldsV1));
  });
});
