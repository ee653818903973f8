import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "node:test";
import yaml from "js-yaml";
import { freePort, waitFor } from "./net.js";
import { benchTool } from "./paths.js";
import { cleanupAtExit, spawnManaged, stopManaged } from "./processes.js";
import type { ManagedProcess } from "./processes.js";

/**
 * A real Envoy for integration tests, from the bench (benchTool("envoy")).
 *
 *   const envoy = await startEnvoy({ bootstrap: { static_resources: {...} }, name: "gw" });
 *   after(() => envoy.stop());
 *   printEnvoyLogOnFailure(() => [envoy]);
 *   ... await envoy.stat("cluster.x.upstream_rq_retry") ...
 *
 * Admin always moves to a free port on 127.0.0.1 (added if the bootstrap has none); everything
 * else in the bootstrap is loaded as given. Each Envoy gets its own temp folder and dynamic
 * base id, so several can run at once; all are killed if the test process exits or is
 * interrupted (see processes.ts).
 */

/** An Envoy bootstrap as a plain object (what `-c` would read). */
export type Bootstrap = Record<string, unknown>;

export interface StartEnvoyOptions {
  /** The bootstrap as an object, or a path to a YAML/JSON file. */
  bootstrap: Bootstrap | string;
  /** Label for messages and the temp folder. */
  name?: string;
  /** Default "info". */
  logLevel?: string;
  extraArgs?: readonly string[];
  /** How long to wait for admin /ready to say LIVE (default 30 s). */
  readyTimeoutMs?: number;
}

export interface Envoy {
  name: string;
  /** http://127.0.0.1:<admin port> */
  adminUrl: string;
  adminPort: number;
  /** The bootstrap actually loaded (admin rewritten to the free port). */
  bootstrap: Bootstrap;
  /** Milliseconds from spawn until /ready answered LIVE. */
  startupMs: number;
  process: ManagedProcess;
  /** GET an admin path ("/stats?filter=retry") and return the body; throws on a non-2xx status. */
  admin(path: string): Promise<string>;
  configDump(query?: string): Promise<ConfigDump>;
  /** Counters and gauges (histograms are skipped), name → value. */
  stats(): Promise<Map<string, number>>;
  /** One counter or gauge, or undefined if Envoy does not have it. */
  stat(name: string): Promise<number | undefined>;
  statsText(): Promise<string>;
  clusters(): Promise<ClusterStatuses>;
  listeners(): Promise<ListenerStatuses>;
  /** Envoy's stdout and stderr so far. */
  log(): string;
  stop(): Promise<void>;
}

/** /config_dump: the interesting part is `configs`, typed loosely because it is Envoy's schema. */
export interface ConfigDump {
  configs: Array<Record<string, unknown> & { "@type": string }>;
}

/** /clusters?format=json */
export interface ClusterStatuses {
  cluster_statuses?: Array<{
    name: string;
    added_via_api?: boolean;
    host_statuses?: Array<{
      address?: { socket_address?: { address: string; port_value: number } };
      health_status?: Record<string, unknown>;
      stats?: Array<{ name: string; value?: string; type?: string }>;
      weight?: number;
    }>;
  }>;
}

/** /listeners?format=json */
export interface ListenerStatuses {
  listener_statuses?: Array<{
    name: string;
    local_address?: { socket_address?: { address: string; port_value: number } };
  }>;
}

function loadBootstrap(bootstrap: Bootstrap | string): Bootstrap {
  if (typeof bootstrap !== "string") return structuredClone(bootstrap);
  const loaded = yaml.load(readFileSync(bootstrap, "utf8"));
  if (!loaded || typeof loaded !== "object" || Array.isArray(loaded)) {
    throw new Error(`${bootstrap} does not hold an Envoy bootstrap object`);
  }
  return loaded as Bootstrap;
}

/** Puts admin on 127.0.0.1:<port>, keeping any other admin settings the bootstrap has. */
function withAdminPort(bootstrap: Bootstrap, port: number): Bootstrap {
  const admin = typeof bootstrap.admin === "object" && bootstrap.admin !== null ? (bootstrap.admin as Record<string, unknown>) : {};
  return { ...bootstrap, admin: { ...admin, address: { socket_address: { address: "127.0.0.1", port_value: port } } } };
}

let instanceCounter = 0;

/** A temp folder removed by `remove()`, or at exit if a test is interrupted first. */
function temporaryFolder(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  const removeNow = (): void => rmSync(path, { recursive: true, force: true });
  const cancel = cleanupAtExit(removeNow);
  return {
    path,
    remove: () => {
      cancel();
      removeNow();
    },
  };
}

export async function startEnvoy(options: StartEnvoyOptions): Promise<Envoy> {
  const name = options.name ?? `envoy-${++instanceCounter}`;
  const envoyPath = benchTool("envoy");
  const adminPort = await freePort();
  const bootstrap = withAdminPort(loadBootstrap(options.bootstrap), adminPort);
  const folder = temporaryFolder(`pilotfish-${name}-`);
  const workDir = folder.path;
  const configPath = join(workDir, "bootstrap.json");
  writeFileSync(configPath, JSON.stringify(bootstrap, null, 2));

  const args = [
    "-c", configPath,
    "--log-level", options.logLevel ?? "info",
    "--concurrency", "1",
    // Several Envoys (tests, files run in parallel) must not collide on hot-restart shared memory.
    "--use-dynamic-base-id",
    "--base-id-path", join(workDir, "base-id"),
    ...(options.extraArgs ?? []),
  ];
  const startedAt = Date.now();
  const managed = spawnManaged(envoyPath, args, { name });
  const adminUrl = `http://127.0.0.1:${adminPort}`;

  const admin = async (path: string): Promise<string> => {
    const response = await fetch(adminUrl + path);
    const body = await response.text();
    if (!response.ok) throw new Error(`Envoy ${name} admin GET ${path} → ${response.status}: ${body.slice(0, 500)}`);
    return body;
  };

  const stop = async (): Promise<void> => {
    await stopManaged(managed);
    folder.remove();
  };

  try {
    await waitFor(
      async () => {
        if (managed.exitStatus) {
          throw new EnvoyExited(`Envoy ${name} exited (${JSON.stringify(managed.exitStatus)}) before it was ready`);
        }
        const response = await fetch(`${adminUrl}/ready`);
        return (await response.text()).trim() === "LIVE";
      },
      { timeoutMs: options.readyTimeoutMs ?? 30_000, intervalMs: 50, what: `Envoy ${name} admin ${adminUrl}/ready to say LIVE` },
    );
  } catch (error) {
    await stop();
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`${reason}\n--- Envoy ${name} log ---\n${managed.output.text()}`);
  }
  const startupMs = Date.now() - startedAt;

  const statsText = (): Promise<string> => admin("/stats");
  const stats = async (): Promise<Map<string, number>> => parseStats(await statsText());
  return {
    name,
    adminUrl,
    adminPort,
    bootstrap,
    startupMs,
    process: managed,
    admin,
    configDump: async (query = "") => JSON.parse(await admin(`/config_dump${query ? `?${query}` : ""}`)) as ConfigDump,
    stats,
    stat: async (statName) => (await stats()).get(statName),
    statsText,
    clusters: async () => JSON.parse(await admin("/clusters?format=json")) as ClusterStatuses,
    listeners: async () => JSON.parse(await admin("/listeners?format=json")) as ListenerStatuses,
    log: () => managed.output.text(),
    stop,
  };
}

class EnvoyExited extends Error {}

/**
 * Parses admin /stats text ("cluster.x.upstream_rq_retry: 3"). Histogram lines
 * ("P0(nan,...)" or "No recorded values") are not numbers and are left out.
 */
export function parseStats(text: string): Map<string, number> {
  const stats = new Map<string, number>();
  for (const line of text.split("\n")) {
    const separator = line.lastIndexOf(": ");
    if (separator <= 0) continue;
    const value = line.slice(separator + 2).trim();
    if (!/^-?\d+$/.test(value)) continue;
    stats.set(line.slice(0, separator), Number(value));
  }
  return stats;
}

const VALIDATE_TIMEOUT_MS = 60_000;

export interface ValidationResult {
  ok: boolean;
  output: string;
}

/** `envoy --mode validate`: checks a bootstrap (object or file) without opening any port. */
export async function validateEnvoyConfig(bootstrap: Bootstrap | string): Promise<ValidationResult> {
  const envoyPath = benchTool("envoy");
  const folder = temporaryFolder("pilotfish-envoy-validate-");
  try {
    // A file is validated as written (Envoy's own YAML parsing), an object as JSON.
    let configPath = bootstrap;
    if (typeof configPath !== "string") {
      configPath = join(folder.path, "bootstrap.json");
      writeFileSync(configPath, JSON.stringify(bootstrap, null, 2));
    }
    const args = ["--mode", "validate", "-c", configPath, "--use-dynamic-base-id", "--base-id-path", join(folder.path, "base-id"), "--log-level", "warn"];
    const validator = spawnManaged(envoyPath, args, { name: "envoy-validate" });
    // Validation takes well under a second; a hung validator must not hang the test run.
    const watchdog = setTimeout(() => void stopManaged(validator), VALIDATE_TIMEOUT_MS);
    const status = await validator.exited;
    clearTimeout(watchdog);
    const timedOut = status.signal !== null ? `[harness] envoy --mode validate stopped after ${VALIDATE_TIMEOUT_MS} ms\n` : "";
    return { ok: status.code === 0, output: validator.output.text() + timedOut };
  } finally {
    folder.remove();
  }
}

/**
 * Registers an afterEach hook (in the current describe, or the file) that prints the log of
 * every Envoy the getter returns when a test failed, so a red test shows what Envoy said.
 * Call it where the Envoy variables are in scope: `printEnvoyLogOnFailure(() => [envoy])`.
 */
export function printEnvoyLogOnFailure(envoys: () => ReadonlyArray<Envoy | undefined>): void {
  afterEach((context) => {
    // `passed` is on TestContext since Node 20.?; @types/node 20 does not declare it yet.
    const outcome = context as { passed?: boolean; name: string };
    if (outcome.passed !== false) return;
    for (const envoy of envoys()) {
      if (envoy) process.stderr.write(envoyLogReport(envoy, outcome.name));
    }
  });
}

function envoyLogReport(envoy: Envoy, testName: string): string {
  return `\n----- Envoy ${envoy.name} log (test "${testName}" failed) -----\n${envoy.log()}----- end of Envoy ${envoy.name} log -----\n`;
}
