/**
 * A real Envoy started the way the gateway pod starts it: `-c <config dir>/envoy.yaml`, the
 * bootstrap pilotfish published, unchanged (its admin and status ports come from the operator's
 * --proxy-admin-port/--proxy-status-port, free ports on the bench). test/support/envoy.ts moves
 * admin to a port of its own, which would break the readiness route, hence this small launcher.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../../../support/net.js";
import { benchTool } from "../../../support/paths.js";
import { cleanupAtExit, spawnManaged, stopManaged } from "../../../support/processes.js";
import type { ManagedProcess } from "../../../support/processes.js";

export interface GatewayEnvoy {
  process: ManagedProcess;
  adminUrl: string;
  /** GET the readiness endpoint the pod's probe uses. */
  readiness(): Promise<number>;
  stat(name: string): Promise<number | undefined>;
  log(): string;
  stop(): Promise<void>;
}

export async function startGatewayEnvoy(options: { configDir: string; adminPort: number; statusPort: number; name?: string }): Promise<GatewayEnvoy> {
  const work = mkdtempSync(join(tmpdir(), "pilotfish-gw-envoy-"));
  const forget = cleanupAtExit(() => rmSync(work, { recursive: true, force: true }));
  const managed = spawnManaged(
    benchTool("envoy"),
    ["-c", join(options.configDir, "envoy.yaml"), "--log-level", "info", "--concurrency", "1", "--use-dynamic-base-id", "--base-id-path", join(work, "base-id"), "--drain-time-s", "1"],
    { name: options.name ?? "gateway-envoy" },
  );
  const adminUrl = `http://127.0.0.1:${options.adminPort}`;
  const readiness = async (): Promise<number> => (await fetch(`http://127.0.0.1:${options.statusPort}/healthz/ready`)).status;
  try {
    await waitFor(
      async () => {
        if (managed.exitStatus) throw new Error(`Envoy exited (${JSON.stringify(managed.exitStatus)})`);
        return (await readiness()) === 200;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: "Envoy's /healthz/ready on the status port" },
    );
  } catch (error) {
    await stopManaged(managed);
    throw new Error(`${(error as Error).message}\n--- Envoy log ---\n${managed.output.text()}`);
  }
  return {
    process: managed,
    adminUrl,
    readiness,
    stat: async (name) => {
      const text = await (await fetch(`${adminUrl}/stats?filter=${encodeURIComponent(`^${name.replace(/[.]/g, "\\.")}$`)}`)).text();
      const match = /: (\d+)\s*$/m.exec(text);
      return match ? Number(match[1]) : undefined;
    },
    log: () => managed.output.text(),
    stop: async () => {
      await stopManaged(managed);
      forget();
      rmSync(work, { recursive: true, force: true });
    },
  };
}
