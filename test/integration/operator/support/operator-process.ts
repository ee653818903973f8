/**
 * `pilotfish operator` as a child process (`node <bundle of src/cli/main.ts> operator`, test/support/cli.ts), the way
 * it runs on a host: its own kubeconfig, health/metrics on a free loopback port, JSON logs kept
 * for assertions.
 */
import { freePort, waitFor } from "../../../support/net.js";
import { repoRoot } from "../../../support/paths.js";
import { spawnManaged, stopManaged } from "../../../support/processes.js";
import type { ExitStatus, ManagedProcess } from "../../../support/processes.js";
import { cliNodeArgs } from "../../../support/cli.js";

export interface OperatorProcess {
  process: ManagedProcess;
  healthUrl: string;
  /** Parsed JSON log lines so far. */
  logs(): LogLine[];
  metrics(): Promise<string>;
  /** SIGTERM, then the exit status. */
  stop(): Promise<ExitStatus>;
}

export interface LogLine {
  level: string;
  message: string;
  proxy?: string;
  resource?: string;
  field?: string;
  [key: string]: unknown;
}

export interface OperatorProcessOptions {
  kubeconfig: string;
  proxyConfigDir: string;
  proxyAdminPort: number;
  proxyStatusPort: number;
  extraArgs?: readonly string[];
  name?: string;
  /** Wait for /readyz 200 before returning (default true). */
  waitReady?: boolean;
  /** The node arguments before `operator` (default: test/support/cli.ts cliNodeArgs(); the bench passes a built main.js). */
  entry?: readonly string[];
}

export async function startOperator(options: OperatorProcessOptions): Promise<OperatorProcess> {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const args = [
    ...(options.entry ?? cliNodeArgs()), "operator",
    "--kubeconfig", options.kubeconfig,
    "--health-addr", address,
    "--metrics-addr", address,
    "--log-format", "json",
    "--log-level", "debug",
    "--proxy-config-dir", options.proxyConfigDir,
    "--proxy-admin-port", String(options.proxyAdminPort),
    "--proxy-status-port", String(options.proxyStatusPort),
    // The webhook's default :15017 and ADS's :15010 would clash between operators run in
    // parallel; tests that want them pass --webhook-addr / --xds-address in extraArgs (the last
    // value wins).
    "--webhook-addr", "off",
    "--xds-address", "off",
    // The bench's host operators publish for gateway pods that mount the files (config/gateway/files);
    // agent mode (the default) needs the operator image in the pod and is asked for explicitly.
    "--gateway-mode", "files",
    ...(options.extraArgs ?? []),
  ];
  const managed = spawnManaged(process.execPath, args, { name: options.name ?? "pilotfish-operator", cwd: repoRoot });
  const healthUrl = `http://${address}`;
  const logs = (): LogLine[] =>
    managed.output
      .text()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as LogLine];
        } catch {
          return [];
        }
      });
  await waitFor(
    async () => {
      if (options.waitReady === false) return true;
      if (managed.exitStatus) throw new Error(`the operator exited (${JSON.stringify(managed.exitStatus)}):\n${managed.output.text()}`);
      const response = await fetch(`${healthUrl}/readyz`);
      return response.status === 200;
    },
    { timeoutMs: 60_000, intervalMs: 100, what: "the operator's /readyz" },
  ).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}\n--- operator output ---\n${managed.output.text()}`);
  });
  return {
    process: managed,
    healthUrl,
    logs,
    metrics: async () => (await fetch(`${healthUrl}/metrics`)).text(),
    stop: async () => {
      await stopManaged(managed);
      return managed.exitStatus ?? (await managed.exited);
    },
  };
}
