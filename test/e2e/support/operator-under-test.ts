/**
 * The operator the lab scenarios run against, in one of two places: on the host as a child
 * process under config/rbac's ServiceAccount (the default), or as the chart's pod installed by
 * `helm install` (PILOTFISH_E2E_OPERATOR=chart; `make e2e-chart`). The scenarios only see this
 * interface, so one scenario definition runs against both.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { dump } from "js-yaml";
import { chartDir } from "../../../scripts/generate-config/render.js";
import type { Cluster } from "../../support/cluster.js";
import { installCrds } from "../../support/crds.js";
import { waitFor } from "../../support/net.js";
import { repoRoot } from "../../support/paths.js";
import { operatorKubeconfig } from "../../integration/operator/support/identity.js";
import { startOperator } from "../../integration/operator/support/operator-process.js";
import type { LogLine, OperatorProcess } from "../../integration/operator/support/operator-process.js";
import { filesModeGatewayArgs } from "./gateway-manifests.js";
import { benchAgentUpstream, helmFor } from "./helm.js";

export type OperatorPlace = "host" | "chart";

/** chart unless PILOTFISH_E2E_OPERATOR=host: CI replays the labs with the chart installed. */
export function operatorPlace(): OperatorPlace {
  const place = process.env.PILOTFISH_E2E_OPERATOR ?? "chart";
  if (place !== "host" && place !== "chart") throw new Error(`PILOTFISH_E2E_OPERATOR=${place}: expected host or chart`);
  return place;
}

export interface OperatorUnderTest {
  place: OperatorPlace;
  /** The validating webhook is installed: invalid Istio resources are refused at apply. */
  validatesAtApply: boolean;
  /** Its JSON log lines so far (a pod's: every container of the Deployment's pods). */
  logs(): Promise<LogLine[]>;
  /** True while it runs (host: the process has not exited; chart: every replica Ready). */
  running(): Promise<boolean>;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** The last lines of its output, for a failure report. */
  tail(lines: number): Promise<string>;
  /** Removes what install() put on the cluster (the node itself is the caller's). */
  uninstall(): Promise<void>;
}

export interface InstallOptions {
  /** For the gateway Envoys: Istio's meshConfig.accessLogFile (the labs' /dev/stdout). */
  accessLogFile: string;
  /** A folder for the host operator's kubeconfig and helm's files. */
  work: string;
}

const gatewayNs = "istio-system";

/**
 * CRDs, RBAC, the ingress gateway and the operator, the way `place` installs them; returns when
 * the operator is Ready (the gateway pod may still be starting).
 */
export async function installOperator(cluster: Cluster, place: OperatorPlace, options: InstallOptions): Promise<OperatorUnderTest> {
  const parseLogs = (text: string): LogLine[] =>
    text.split("\n").filter((line) => line.startsWith("{")).flatMap((line) => {
      try {
        return [JSON.parse(line) as LogLine];
      } catch {
        return [];
      }
    });

  if (place === "chart") {
    const helm = helmFor(cluster.kubeconfigPath, options.work);
    // Everything the labs need from the installed system, by values: the webhooks (L11, and
    // validation refusing invalid resources at apply), ADS for the gateway's agent and the
    // injected sidecars (L13, L14). Injected bootstraps dial ADS in plaintext without a token
    // (docs/injection.md): xds.plaintext, and --xds-auth permissive so the gateway's agent, which
    // sends its token, still gets its secrets. The bench has no cluster DNS: the agent and the
    // sidecars reach the operator's Service through Kubernetes' service variables.
    const values = {
      operator: {
        accessLogFile: options.accessLogFile,
        logLevel: "debug",
        extraArgs: ["--xds-auth=permissive", "--sidecar-discovery-address=$(PILOTFISH_SERVICE_HOST):15010"],
      },
      xds: { plaintext: true },
    };
    const valuesFile = join(options.work, "values.yaml");
    writeFileSync(valuesFile, dump(values));
    await helm(["install", "pilotfish", chartDir, "--namespace", gatewayNs, "--create-namespace", "--wait", "--timeout", "4m", "-f", valuesFile, ...benchAgentUpstream]);
    const replicas = Number(await cluster.kubectlOk(["get", "deployment", "pilotfish", "-o", "jsonpath={.spec.replicas}"], { namespace: gatewayNs }));
    const ready = async (): Promise<boolean> =>
      Number((await cluster.kubectl(["get", "deployment", "pilotfish", "-o", "jsonpath={.status.readyReplicas}"], { namespace: gatewayNs })).stdout || "0") === replicas;
    const logsText = async (tail: number): Promise<string> =>
      (await cluster.kubectl(["logs", "-l", "app.kubernetes.io/name=pilotfish,app.kubernetes.io/component=operator", `--tail=${tail}`, "--prefix=false", "--max-log-requests=10"], { namespace: gatewayNs })).stdout;
    // Logs of pods that are gone are gone: keep what stopped pods said.
    let earlier = "";
    return {
      place,
      validatesAtApply: true,
      logs: async () => parseLogs(earlier + (await logsText(-1))),
      running: ready,
      stop: async () => {
        earlier += await logsText(-1);
        await cluster.kubectlOk(["scale", "deployment/pilotfish", "--replicas=0"], { namespace: gatewayNs });
        await waitFor(async () => (await cluster.kubectlOk(["get", "pods", "-l", "app.kubernetes.io/name=pilotfish", "-o", "name"], { namespace: gatewayNs })).trim() === "", { timeoutMs: 60_000, what: "the operator pods gone" });
      },
      start: async () => {
        await cluster.kubectlOk(["scale", "deployment/pilotfish", `--replicas=${replicas}`], { namespace: gatewayNs });
        await cluster.kubectlOk(["rollout", "status", "deployment/pilotfish", "--timeout=120s"], { namespace: gatewayNs });
        await waitFor(ready, { timeoutMs: 60_000, what: "the operator Ready again" });
      },
      tail: logsText,
      uninstall: async () => {
        await helm(["uninstall", "pilotfish", "--namespace", gatewayNs, "--wait", "--timeout", "2m"]);
      },
    };
  }

  await installCrds(cluster);
  await cluster.kubectlOk(["apply", "-f", join(repoRoot, "config", "rbac")]);
  await cluster.kubectlOk(["apply", ...filesModeGatewayArgs]);
  const kubeconfig = await operatorKubeconfig(cluster, options.work);
  const args = ["--access-log-file", options.accessLogFile, "--webhook-addr", "off"];
  const start = (name?: string): Promise<OperatorProcess> =>
    startOperator({ kubeconfig, proxyConfigDir: "/etc/pilotfish/proxy", proxyAdminPort: 15000, proxyStatusPort: 15021, extraArgs: args, ...(name ? { name } : {}) });
  let current: OperatorProcess | undefined = await start();
  let earlier: LogLine[] = [];
  let starts = 1;
  return {
    place,
    validatesAtApply: false,
    logs: async () => [...earlier, ...(current?.logs() ?? [])],
    running: async () => current !== undefined && current.process.exitStatus === undefined,
    stop: async () => {
      if (!current) return;
      earlier = [...earlier, ...current.logs()];
      const status = await current.stop();
      current = undefined;
      if (status.code !== 0) console.log(`# operator exited ${JSON.stringify(status)}`);
    },
    start: async () => {
      starts++;
      current = await start(`pilotfish-operator-${starts}`);
    },
    tail: async (lines) => current?.process.output.text().split("\n").slice(-lines).join("\n") ?? "(stopped)",
    uninstall: async () => {
      const status = await current?.stop();
      if (status && status.code !== 0) console.log(`# operator exited ${JSON.stringify(status)}`);
      current = undefined;
      await cluster.kubectl(["delete", ...filesModeGatewayArgs, "--wait=false"]);
    },
  };
}
