/**
 * The smallest world the leader and fault tests need: config/rbac's identity, the shipped gateway
 * Deployment with a Service, one Gateway and one VirtualService whose route prefix a test changes;
 * and the reads the tests assert with (the published -rds ConfigMap, the Lease, log timestamps).
 * No Envoy: these tests are about who writes what and when.
 */
import { join } from "node:path";
import { dump } from "js-yaml";
import { KubeRest } from "../../../../src/sources/kube/rest.js";
import type { KubeObject } from "../../../../src/sources/kube/rest.js";
import type { ControlPlane } from "../../../support/control-plane.js";
import { installCrds } from "../../../support/crds.js";
import { freePort, waitFor } from "../../../support/net.js";
import { repoRoot } from "../../../support/paths.js";
import { operatorKubeconfig } from "./identity.js";
import type { LogLine, OperatorProcess } from "./operator-process.js";

export const proxy = "istio-ingressgateway";
export const host = "webapp.shop.example";
export const leasePath = "/apis/coordination.k8s.io/v1/namespaces/istio-system/leases/pilotfish";
const rdsPath = `/api/v1/namespaces/istio-system/configmaps/pilotfish-${proxy}-rds`;

export interface GatewayWorld {
  /** The operator's kubeconfig (config/rbac's ServiceAccount). */
  kubeconfig: string;
  /** Admin client (a fresh KubeConfig each call: reads survive an apiserver restart). */
  rest(): KubeRest;
  /** Applies the VirtualService with this route prefix (the one thing tests change). */
  setPrefix(prefix: string): Promise<void>;
  /** The published -rds ConfigMap, or undefined. */
  rds(): Promise<KubeObject & { data?: Record<string, string> } | undefined>;
  /** Resolves with the time (epoch ms, comparable to log timestamps) at which -rds was seen holding `prefix`. */
  waitPublished(prefix: string, timeoutMs?: number): Promise<number>;
  /** holderIdentity of the Lease ("" when released, undefined when there is none). */
  leaseHolder(): Promise<string | undefined>;
}

export const virtualService = (prefix: string): string =>
  dump({
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "webapp", namespace: "shop" },
    spec: {
      hosts: [host],
      gateways: ["shop-gateway"],
      http: [{ name: "webapp", match: [{ uri: { prefix } }], route: [{ destination: { host: "webapp", port: { number: 80 } } }] }],
    },
  });

export async function buildGatewayWorld(controlPlane: ControlPlane, work: string): Promise<GatewayWorld> {
  await installCrds(controlPlane);
  const kubeconfig = await operatorKubeconfig(controlPlane, work);
  await controlPlane.kubectlOk(["create", "namespace", "shop"]);
  await controlPlane.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway", "deployment.yaml")]);
  await controlPlane.kubectlOk(["apply", "-f", "-"], {
    input: [
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: proxy, namespace: "istio-system" },
        spec: { selector: { istio: "ingressgateway" }, ports: [{ name: "http2", port: 80, targetPort: await freePort() }] },
      },
      { apiVersion: "v1", kind: "Service", metadata: { name: "webapp", namespace: "shop" }, spec: { ports: [{ name: "http", port: 80, targetPort: 8080 }] } },
      {
        apiVersion: "networking.istio.io/v1",
        kind: "Gateway",
        metadata: { name: "shop-gateway", namespace: "shop" },
        spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: [host] }] },
      },
    ].map((doc) => dump(doc)).join("---\n"),
  });
  const rest = (): KubeRest => new KubeRest(controlPlane.kubeConfig());
  const rds = (): Promise<(KubeObject & { data?: Record<string, string> }) | undefined> => rest().get(rdsPath);
  return {
    kubeconfig,
    rest,
    setPrefix: async (prefix) => {
      await controlPlane.kubectlOk(["apply", "-f", "-"], { input: virtualService(prefix) });
    },
    rds,
    waitPublished: (prefix, timeoutMs = 30_000) =>
      waitFor(
        async () => (Object.values((await rds())?.data ?? {}).some((text) => text.includes(`prefix: ${prefix}\n`)) ? Date.now() : undefined),
        { timeoutMs, intervalMs: 20, what: `-rds holding the route prefix ${prefix}` },
      ),
    leaseHolder: async () => {
      const lease = await rest().get<KubeObject & { spec?: { holderIdentity?: string } }>(leasePath);
      return lease ? (lease.spec?.holderIdentity ?? "") : undefined;
    },
  };
}

/** The identity an operator runs for, from its first leader-election log line. */
export function identityOf(operator: OperatorProcess): string {
  const line = operator.logs().find((entry) => entry.message.startsWith("leader election: candidate "));
  const identity = /^leader election: candidate (\S+) /.exec(line?.message ?? "")?.[1];
  if (!identity) throw new Error(`no leader-election line in the operator's log:\n${operator.process.output.text()}`);
  return identity;
}

/** Epoch milliseconds of a JSON log line (winston's timestamp). */
export function timeOf(line: LogLine): number {
  return Date.parse(String(line.timestamp));
}

/** Log lines whose message matches. */
export function linesMatching(operator: OperatorProcess, pattern: RegExp): LogLine[] {
  return operator.logs().filter((line) => pattern.test(line.message));
}

/** Waits for the operator's log line matching `pattern` (optionally the n-th one) and returns it. */
export function waitForLine(operator: OperatorProcess, pattern: RegExp, timeoutMs = 30_000, index = 0): Promise<LogLine> {
  return waitFor(() => linesMatching(operator, pattern)[index], { timeoutMs, intervalMs: 20, what: `operator log line ${pattern}` });
}

/** Reconciles that wrote published objects ("published pilotfish-…" lines). */
export function publishLines(operator: OperatorProcess): LogLine[] {
  return linesMatching(operator, /^published pilotfish-/);
}
