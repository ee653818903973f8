import { resolve } from "node:path";
import type { Command } from "commander";
import { verboseHelp, withProgress } from "../progress.js";
import { findEnvoy } from "../standalone/envoy-binary.js";
import { listenerTable, startStandalone } from "../standalone/runner.js";

interface RunCommandOptions {
  configDir: string;
  envoy?: string;
  address: string;
  portOffset: string;
  adminPort: string;
  xdsAddress: string;
  namespace: string;
  debounce: string;
  envoyLogLevel: string;
  verbose?: boolean;
}

function integer(flag: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^-?\d+$/.test(text) || value < min || value > max) throw new Error(`${flag} ${text}: expected a whole number from ${min} to ${max}`);
  return value;
}

/** Colour only on a terminal that wants it (NO_COLOR unset). */
function painter(stream: NodeJS.WriteStream): (code: number, text: string) => string {
  const on = stream.isTTY === true && !process.env.NO_COLOR;
  return (code, text) => (on ? `\u001b[${code}m${text}\u001b[0m` : text);
}

const examples = `
Examples:
  # the coolstore example on local Envoy (make demo does this with local upstreams)
  pilotfish run --config-dir examples/coolstore

  # listeners at 8080+10000 and 8443+10000, Envoy admin on any free port
  pilotfish run --config-dir ./gw --port-offset 10000 --admin-port 0

Folder: Gateways, VirtualServices, DestinationRules, Services, EndpointSlices and Secrets
(.yaml/.yml/.json, subfolders too). A Service names its local backends with the annotation
  pilotfish.io/endpoints: "127.0.0.1:8081, 127.0.0.1:8082"     (or "http=127.0.0.1:8081 tcp=...")
Listener ports are the ingress Service's targetPorts (Istio's: 80 -> 8080, 443 -> 8443,
31400, 15443; or the Service selecting istio: ingressgateway in the folder) plus --port-offset.
Edits apply live; an edit with errors is reported and the last good config keeps serving.

Exit codes: 0 stopped by Ctrl-C/SIGTERM; 1 the folder has errors at start, Envoy could not
start or exited, or a flag is wrong.
See docs/standalone.md.`;

export function registerRunCommand(program: Command): void {
  program
    .command("run")
    .description("standalone: serve a folder of Istio manifests on a local Envoy over ADS, no Kubernetes; edits apply live")
    .requiredOption("-d, --config-dir <dir>", "folder of YAML manifests (watched)")
    .option("--envoy <path>", "envoy binary (default: $ENVOY, the bench's from make testenv, then PATH)")
    .option("--address <ip>", "address the listeners bind", "127.0.0.1")
    .option("--port-offset <n>", "added to every listener port", "0")
    .option("--admin-port <port>", "Envoy admin port on 127.0.0.1 (0: any free port)", "15000")
    .option("--xds-address <host:port>", "loopback address of the ADS server (port 0: any)", "127.0.0.1:0")
    .option("-n, --namespace <namespace>", "namespace for manifests that have none", "default")
    .option("--debounce <ms>", "wait this long after the last change in the folder before compiling", "150")
    .option("--envoy-log-level <level>", "Envoy's log level (trace|debug|info|warning|error|critical|off)", "error")
    .option("--verbose", verboseHelp)
    .addHelpText("after", examples)
    .action(async (options: RunCommandOptions) => {
      const configDir = resolve(options.configDir);
      // Signals are ours from the start: Ctrl-C while Envoy starts still stops it and cleans up.
      const interrupted = new AbortController();
      let onSignal: (why: string) => void = () => interrupted.abort();
      process.on("SIGINT", () => onSignal("stopping (SIGINT)"));
      process.on("SIGTERM", () => onSignal("stopping (SIGTERM)"));
      const out = painter(process.stdout);
      const err = painter(process.stderr);
      const standalone = await withProgress(options.verbose, (progress) => startStandalone({
        configDir,
        envoyPath: findEnvoy(options.envoy),
        address: options.address,
        portOffset: integer("--port-offset", options.portOffset, -65535, 65535),
        adminPort: integer("--admin-port", options.adminPort, 0, 65535),
        xdsAddress: options.xdsAddress,
        namespace: options.namespace,
        debounceMs: integer("--debounce", options.debounce, 0, 60_000),
        envoyLogLevel: options.envoyLogLevel,
        signal: interrupted.signal,
        info: (line) => {
          progress.clear();
          process.stdout.write(`${line.startsWith("applied") ? out(32, line) : line}\n`);
        },
        // During start-up through the progress reporter (a spinner line is not garbled); it is a plain write once done.
        problem: (line) => progress.print(`${line.startsWith("refused") ? err(31, line) : line}\n`),
        phase: (text) => progress.phase(text),
      }));
      process.stdout.write(
        [
          out(1, `pilotfish run: ${configDir} on Envoy (config version ${standalone.version})`),
          "listeners:",
          ...listenerTable(standalone.listeners),
          `Envoy admin: http://${standalone.adminAddress}   ADS: ${standalone.xdsAddress}`,
          `watching ${configDir}: edits apply live. Ctrl-C stops.`,
          "",
        ].join("\n"),
      );
      const stopped = await new Promise<{ code: number; why: string }>((done) => {
        onSignal = (why) => done({ code: 0, why });
        if (interrupted.signal.aborted) done({ code: 0, why: "stopping" });
        void standalone.envoyExited.then((reason) => done({ code: 1, why: `${reason}; stopping` }));
      });
      process.stdout.write(`${stopped.why}\n`);
      await standalone.stop();
      process.stdout.write("stopped\n");
      process.exitCode = stopped.code;
    });
}
