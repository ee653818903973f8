/**
 * `pilotfish agent`: the gateway pod's second container (the operator's image). Serves the pod's
 * Envoy over ADS on a Unix socket, from the operator's ADS when it streams and from the mounted
 * published config otherwise (src/agent/agent.ts). Runs until SIGTERM/SIGINT.
 *
 * Exit codes: 0 stopped by SIGTERM or SIGINT; 1 could not start (invalid flag, socket not bindable).
 * An unreachable operator is never fatal: the files are served meanwhile.
 */
import { hostname } from "node:os";
import { InvalidArgumentError } from "commander";
import type { Command } from "commander";
import { Agent } from "../../agent/agent.js";
import type { AgentLogger } from "../../agent/agent.js";

interface AgentCommandOptions {
  listen: string;
  configDir: string;
  upstream: string;
  upstreamPlaintext?: boolean;
  caFile: string;
  serverName: string;
  tokenFile: string;
  namespace?: string;
  workloadName?: string;
  podName: string;
  podIp: string;
  logLevel: "error" | "warn" | "info" | "debug";
}

export const defaultAgentSocket = "/var/run/pilotfish/agent.sock";

const levels = ["error", "warn", "info", "debug"] as const;

/** One line per event on stderr; no logging library, to keep the agent's memory small. */
function lineLogger(level: AgentCommandOptions["logLevel"]): AgentLogger {
  const rank = levels.indexOf(level);
  const write = (at: (typeof levels)[number], message: string): void => {
    if (levels.indexOf(at) <= rank) process.stderr.write(`${new Date().toISOString()} ${at.padEnd(5)} ${message}\n`);
  };
  return { info: (m) => write("info", m), warn: (m) => write("warn", m), debug: (m) => write("debug", m) };
}

/** A pod name `<deployment>-<replicaset hash>-<suffix>` → the Deployment (Istio's workload name). */
export function workloadOfPod(pod: string): string {
  const words = pod.split("-");
  return words.length >= 3 ? words.slice(0, -2).join("-") : pod;
}

export function registerAgentCommand(program: Command): void {
  program
    .command("agent")
    .description(
      "run the gateway pod's local agent: serve the pod's Envoy over ADS on a Unix socket, from the operator's ADS (--upstream) " +
        "while it streams and from the mounted published config (--config-dir) otherwise. Exit codes: 0 stopped by SIGTERM/SIGINT, 1 could not start.",
    )
    .option("--listen <path>", "Unix socket Envoy connects to (in an emptyDir shared with Envoy)", defaultAgentSocket)
    .option("--config-dir <dir>", "where the pod mounts the published ConfigMaps and Secret (the operator's --proxy-config-dir)", "/etc/pilotfish/proxy")
    .option("--upstream <host:port>", "the operator's ADS, or off (files only)", "pilotfish.istio-system.svc:15010")
    .option("--upstream-plaintext", "talk to the operator without TLS (only until it serves TLS, or on a trusted network)")
    .option("--ca-file <file>", "CA certificate the operator's serving certificate is checked against (ConfigMap pilotfish-ca-root)", "/var/run/pilotfish/ca/root-cert.pem")
    .option("--server-name <name>", "name the operator's certificate must carry (also the TLS SNI)", "pilotfish.istio-system.svc")
    .option("--token-file <file>", "projected ServiceAccount token (audience pilotfish) sent as authorization: Bearer", "/var/run/secrets/tokens/pilotfish-token")
    .option("--namespace <namespace>", "the gateway's namespace (default $POD_NAMESPACE)")
    .option("--workload-name <name>", "the gateway Deployment (default $WORKLOAD_NAME, else the pod name without its two last words)")
    .option("--pod-name <name>", "this pod (default $POD_NAME, else the host name)", process.env.POD_NAME ?? hostname())
    .option("--pod-ip <ip>", "this pod's IP (default $POD_IP)", process.env.POD_IP ?? "0.0.0.0")
    .option("--log-level <level>", `log level: ${levels.join(", ")}`, (value: string) => {
      if (!(levels as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${levels.join(", ")}`);
      return value;
    }, "info")
    .action(async (options: AgentCommandOptions) => {
      const logger = lineLogger(options.logLevel);
      const namespace = options.namespace ?? process.env.POD_NAMESPACE;
      if (!namespace) throw new InvalidArgumentError("--namespace or $POD_NAMESPACE is required (the downward API's metadata.namespace)");
      const workloadName = options.workloadName ?? process.env.WORKLOAD_NAME ?? workloadOfPod(options.podName);
      const plaintext = options.upstreamPlaintext === true;
      const agent = new Agent({
        listen: options.listen,
        configDir: options.configDir.replace(/\/+$/, "") || "/",
        upstream: options.upstream === "off" ? undefined : options.upstream,
        security: { caFile: plaintext ? undefined : options.caFile, serverName: options.serverName, tokenFile: options.tokenFile },
        namespace,
        workloadName,
        podName: options.podName,
        podIp: options.podIp,
        logger,
      });
      await agent.start();
      logger.info(
        `pilotfish agent for ${agent.key} serving ADS on ${agent.address}; upstream ${options.upstream}${plaintext ? " (plaintext)" : ""}; files ${options.configDir}`,
      );
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          logger.info(`${signal}: stopping`);
          resolve();
        };
        process.once("SIGTERM", () => stop("SIGTERM"));
        process.once("SIGINT", () => stop("SIGINT"));
      });
      await agent.close();
    });
}
