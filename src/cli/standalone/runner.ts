/**
 * `pilotfish run`: the operator's pipeline on one machine. A config folder (the file source) →
 * snapshot → compileGateway → the ADS server's store, and a local Envoy bootstrapped to that
 * ADS server on loopback. Edits in the folder are compiled and pushed live; a folder state the
 * file source refuses is reported and Envoy keeps the last good config.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compileGateway } from "../../compile/compile.js";
import { defaultCompileOptions } from "../../compile/output.js";
import type { Diagnostic } from "../../compile/output.js";
import type { EnvoyResources } from "../../envoy/resources.js";
import type { GatewayProxy } from "../../model/proxy.js";
import { buildSnapshot } from "../../model/snapshot.js";
import { formatProblem, readConfigDir, watchFolder } from "../../sources/files/index.js";
import type { ConfigProblem, FolderWatch } from "../../sources/files/index.js";
import { adsBootstrap, startXds } from "../../xds/index.js";
import type { XdsServing } from "../../xds/index.js";
import { diffConfigs } from "../diff/resources.js";
import { describeListeners, placeListeners } from "./listeners.js";
import type { ListenerInfo, ListenerPlacement } from "./listeners.js";

export interface StandaloneOptions {
  configDir: string;
  envoyPath: string;
  /** Address every listener binds (default 127.0.0.1). */
  address: string;
  portOffset: number;
  /** Envoy's admin port (0: any free port). */
  adminPort: number;
  /** The ADS server's loopback address (port 0: any). */
  xdsAddress: string;
  namespace: string;
  debounceMs: number;
  envoyLogLevel: string;
  /** Aborted (Ctrl-C during start-up): start-up stops, cleans up and throws. */
  signal?: AbortSignal;
  /** Progress, listener tables, applied changes. */
  info(line: string): void;
  /** Problems: refused edits, compiler diagnostics, Envoy's rejections and output. */
  problem(line: string): void;
  /** Start-up's phases (compiling, ADS, Envoy, its listeners), for a progress line. */
  phase?(text: string): void;
}

export interface Standalone {
  listeners: ListenerInfo[];
  /** Envoy's admin interface, host:port. */
  adminAddress: string;
  xdsAddress: string;
  /** The applied config's number (1 at start; +1 per applied change). */
  version: number;
  /** Resolves when Envoy exits on its own (not through stop()). */
  envoyExited: Promise<string>;
  stop(): Promise<void>;
}

interface Compiled {
  proxy: GatewayProxy;
  resources: EnvoyResources;
  listeners: ListenerInfo[];
  diagnostics: Diagnostic[];
  warnings: ConfigProblem[];
}

type Outcome = { ok: true; compiled: Compiled } | { ok: false; problems: ConfigProblem[] };

function compileFolder(options: StandaloneOptions, placement: ListenerPlacement): Outcome {
  const state = readConfigDir(options.configDir, options.namespace);
  if (!state.ok) return { ok: false, problems: state.problems };
  const snapshot = buildSnapshot(state.inputs);
  const result = compileGateway(snapshot, state.proxy, defaultCompileOptions);
  let resources: EnvoyResources;
  try {
    resources = placeListeners(result.resources, placement);
  } catch (error) {
    return { ok: false, problems: [{ severity: "error", file: options.configDir, message: error instanceof Error ? error.message : String(error) }] };
  }
  const listeners = describeListeners(resources, snapshot.gateways, state.proxy, placement);
  return { ok: true, compiled: { proxy: state.proxy, resources, listeners, diagnostics: result.diagnostics, warnings: state.warnings } };
}

function formatDiagnostic(d: Diagnostic): string {
  return `${d.kind} ${d.namespace}/${d.name}: ${d.field}: ${d.severity === "warning" ? "warning: " : ""}${d.message}`;
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port }, () => {
      socket.destroy();
      done(true);
    });
    socket.on("error", () => done(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

export function listenerTable(listeners: readonly ListenerInfo[]): string[] {
  if (listeners.length === 0) return ["  (no listeners: no Gateway in the folder selects this gateway, or none of its servers compiled)"];
  const width = Math.max(...listeners.map((l) => `${l.address}:${l.port}`.length));
  return listeners.flatMap((listener) => {
    const where = `${listener.address}:${listener.port}`.padEnd(width);
    const [first, ...rest] = listener.serves.length > 0 ? listener.serves : ["(no Gateway server maps to this port)"];
    return [`  ${where}  ${first}`, ...rest.map((line) => `  ${" ".repeat(width)}  ${line}`)];
  });
}

export async function startStandalone(options: StandaloneOptions): Promise<Standalone> {
  const placement: ListenerPlacement = { address: options.address, portOffset: options.portOffset };
  options.phase?.(`compiling ${options.configDir}`);
  const first = compileFolder(options, placement);
  if (!first.ok) {
    throw new Error(`the config folder ${options.configDir} has errors:\n${first.problems.map((p) => `  ${formatProblem(p)}`).join("\n")}`);
  }
  for (const warning of first.compiled.warnings) options.problem(formatProblem(warning));
  for (const diagnostic of first.compiled.diagnostics) options.problem(formatDiagnostic(diagnostic));

  const proxy = first.compiled.proxy;
  const proxyKey = `${proxy.namespace}/${proxy.name}`;
  const workDir = mkdtempSync(join(tmpdir(), "pilotfish-run-"));
  let xds: XdsServing | undefined;
  let envoy: ChildProcess | undefined;
  let watcher: FolderWatch | undefined;
  let stopping = false;

  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    watcher?.close();
    if (envoy && envoy.exitCode === null && envoy.signalCode === null) {
      const child = envoy;
      const exited = new Promise<void>((done) => child.once("exit", () => done()));
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(killer);
    }
    await xds?.close();
    rmSync(workDir, { recursive: true, force: true });
  };

  try {
    const logger = {
      info: () => undefined,
      debug: () => undefined,
      warn: (message: string) => options.problem(`ADS: ${message}`),
    };
    // Standalone: a local Envoy on loopback, no Kubernetes to authenticate it with.
    options.phase?.("starting the ADS server");
    xds = await startXds({ address: options.xdsAddress, plaintext: false, authentication: "none", logger });
    let current = first.compiled;
    let version = 1;
    xds.onCompiled(proxyKey, current.resources);
    xds.server.events.on("nack", (event: { type?: string; message?: string }) => {
      options.problem(`Envoy rejected the ${event.type ?? ""} update (it keeps its previous config): ${event.message ?? ""}`);
    });

    const [xdsHost, xdsPort] = [xds.address.slice(0, xds.address.lastIndexOf(":")), Number(xds.address.slice(xds.address.lastIndexOf(":") + 1))];
    const bootstrapPath = join(workDir, "bootstrap.json");
    const adminPath = join(workDir, "admin-address");
    writeFileSync(
      bootstrapPath,
      JSON.stringify(adsBootstrap({ xdsHost, xdsPort, adminPort: options.adminPort, namespace: proxy.namespace, workloadName: proxy.name, labels: proxy.labels }), null, 2),
    );
    options.info(`starting Envoy (${options.envoyPath}) for gateway ${proxyKey}, ADS on ${xds.address}`);
    options.phase?.("starting Envoy");
    const child = spawn(
      options.envoyPath,
      [
        "-c", bootstrapPath,
        "--admin-address-path", adminPath,
        "--log-level", options.envoyLogLevel,
        "--concurrency", "1",
        "--use-dynamic-base-id",
        "--base-id-path", join(workDir, "base-id"),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    envoy = child;
    const forward = (chunk: Buffer): void => {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") options.problem(`envoy: ${line}`);
    };
    child.stdout?.on("data", forward);
    child.stderr?.on("data", forward);
    // Only an exit pilotfish did not ask for: stop() ending Envoy is not news.
    const envoyExited = new Promise<string>((resolve) => {
      child.once("error", (error) => resolve(`Envoy could not start: ${error.message}`));
      child.once("exit", (code, signal) => {
        if (!stopping) resolve(`Envoy exited (${code ?? signal})`);
      });
    });
    let exitReason: string | undefined;
    void envoyExited.then((reason) => (exitReason = reason));
    let listenerNack: string | undefined;
    xds.server.events.on("nack", (event: { type?: string; message?: string }) => {
      if (event.type === "LDS") listenerNack = event.message;
    });

    // Envoy is ready when its admin interface is up and every listener accepts connections.
    const deadline = Date.now() + 30_000;
    let adminAddress = "";
    options.phase?.("waiting for Envoy's admin interface and listeners");
    for (;;) {
      if (options.signal?.aborted) throw new Error("interrupted while starting; stopped Envoy and cleaned up");
      if (exitReason) throw new Error(`${exitReason} before its listeners came up`);
      if (listenerNack) throw new Error(`Envoy rejected the listeners: ${listenerNack}`);
      if (Date.now() > deadline) throw new Error("Envoy did not open its listeners within 30 s");
      if (!adminAddress) {
        try {
          adminAddress = readFileSync(adminPath, "utf8").trim();
        } catch {
          // not yet written
        }
      }
      if (adminAddress) {
        const open = await Promise.all(current.listeners.map((listener) => portOpen(listener.address === "0.0.0.0" ? "127.0.0.1" : listener.address, listener.port)));
        if (open.every(Boolean)) break;
      }
      await sleep(100);
    }

    const handle: Standalone = { listeners: current.listeners, adminAddress, xdsAddress: xds.address, version, envoyExited, stop };
    const reload = (): void => {
      if (stopping) return;
      const outcome = compileFolder(options, placement);
      if (!outcome.ok) {
        options.problem(`refused the change in ${options.configDir}; Envoy keeps serving config version ${version}:`);
        for (const problem of outcome.problems) options.problem(`  ${formatProblem(problem)}`);
        return;
      }
      for (const warning of outcome.compiled.warnings) options.problem(formatProblem(warning));
      for (const diagnostic of outcome.compiled.diagnostics) options.problem(formatDiagnostic(diagnostic));
      const diff = diffConfigs(current.resources, outcome.compiled.resources, { text: false });
      if (diff.changes.length === 0) {
        options.info(`no change to the Envoy config (still version ${version})`);
        return;
      }
      if (outcome.compiled.proxy.name !== proxy.name || outcome.compiled.proxy.namespace !== proxy.namespace) {
        options.problem(`the ingress gateway Service is now ${outcome.compiled.proxy.namespace}/${outcome.compiled.proxy.name}; restart pilotfish run to serve it under that name`);
      }
      xds?.onCompiled(proxyKey, outcome.compiled.resources);
      version += 1;
      handle.version = version;
      const listenersChanged = JSON.stringify(current.listeners) !== JSON.stringify(outcome.compiled.listeners);
      current = outcome.compiled;
      handle.listeners = current.listeners;
      options.info(`applied config version ${version}: ${diff.summary}`);
      if (listenersChanged) {
        options.info("listeners:");
        for (const line of listenerTable(current.listeners)) options.info(line);
      }
    };
    watcher = watchFolder(options.configDir, reload, { debounceMs: options.debounceMs, onError: (error) => options.problem(`watching ${options.configDir}: ${error.message}`) });
    return handle;
  } catch (error) {
    await stop();
    throw error;
  }
}
