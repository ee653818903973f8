/**
 * `pilotfish operator`: watch the cluster, compile every gateway proxy, publish its config as
 * ConfigMaps + a Secret that the gateway pods mount. Runs until SIGTERM/SIGINT.
 *
 * Exit codes: 0 stopped by SIGTERM or SIGINT; 1 could not start (invalid flag value, kubeconfig
 * unreadable, health/metrics address in use). Once running, API errors are retried, never fatal.
 */
import { existsSync } from "node:fs";
import { InvalidArgumentError } from "commander";
import type { Command } from "commander";
import { KubeConfig } from "@kubernetes/client-node";
import { parseAddress, serve } from "../../controllers/http-server.js";
import { LeaderElector, defaultIdentity, defaultLeaderElectionTiming, defaultLeaseName, timingProblem } from "../../controllers/leader.js";
import { EventLoopHeartbeat } from "../../controllers/liveness.js";
import { createLogger, logLevels } from "../../controllers/log.js";
import type { LogFormat, LogLevel } from "../../controllers/log.js";
import { OperatorMetrics } from "../../controllers/metrics.js";
import { Operator } from "../../controllers/operator.js";
import { defaultAdminPort, defaultAgentSocket, defaultStatusPort, gatewayModes } from "../../publish/bootstrap.js";
import type { GatewayMode } from "../../publish/bootstrap.js";
import { KubeRest } from "../../sources/kube/rest.js";
import { defaultCertHosts, defaultInjectionSettings, defaultServingSecretName, defaultWebhookAddr, startWebhook, webhookCertificateSources } from "../../webhook/index.js";
import type { WebhookCertificateSource } from "../../webhook/index.js";
import type { DiscoveryAddress } from "../../webhook/index.js";
import { defaultXdsCertHosts, startOperatorXds } from "../../controllers/xds-serving.js";

interface OperatorCommandOptions {
  kubeconfig?: string;
  namespace: string;
  proxyConfigDir: string;
  healthAddr: string;
  metricsAddr: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  debounce: number;
  debounceMax: number;
  concurrency: number;
  maxFileSubscriptions: number;
  proxyAdminPort: number;
  proxyStatusPort: number;
  retryOn503?: boolean;
  accessLogFile: string;
  webhookAddr: string;
  webhookCertHosts?: string;
  proxyImage: string;
  proxyInitImage: string;
  xdsAddress: string;
  xdsPlaintext?: boolean;
  xdsAuth: "kubernetes" | "permissive" | "none";
  xdsCertHosts?: string;
  xdsDebugAddr: string;
  gatewayMode: GatewayMode;
  webhookCertificates: WebhookCertificateSource;
  webhookCertSecret: string;
  xdsProxyAddress?: string;
  agentSocket: string;
  sidecarDiscoveryAddress?: string;
  leaderElect: boolean;
  leaderElectLeaseDuration: number;
  leaderElectRenewDeadline: number;
  leaderElectRetryPeriod: number;
  leaderElectResourceName: string;
  leaderElectResourceNamespace?: string;
}

/**
 * Where gateway pods reach the operator's ADS (ads mode's bootstrap): the --xds-address host when
 * it is one specific address, else the operator's Service name in its namespace.
 */
export function xdsProxyAddress(xdsAddress: string, namespace: string): string | undefined {
  if (xdsAddress === "off") return undefined;
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(xdsAddress);
  if (!match) return undefined;
  const host = match[1] ?? match[2] ?? "";
  const wildcard = host === "" || host === "0.0.0.0" || host === "::";
  return wildcard ? `pilotfish.${namespace}.svc:${match[3]}` : `${host.includes(":") ? `[${host}]` : host}:${match[3]}`;
}

/** Go-style durations as Kubernetes components take them: `15s`, `500ms`, `1m`, `1m30s`. */
export function parseDuration(value: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join("") !== value) throw new InvalidArgumentError("expected a duration such as 15s, 500ms or 1m");
  const ms = parts.reduce((sum, part) => sum + Number(part[1]) * (units[part[2] ?? "s"] ?? 0), 0);
  if (ms <= 0) throw new InvalidArgumentError("expected a positive duration");
  return Math.round(ms);
}

function boolean(value: string | boolean): boolean {
  if (value === true || value === "true") return true;
  if (value === "false") return false;
  throw new InvalidArgumentError("expected true or false");
}

function integer(min: number, max: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min || parsed > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return parsed;
  };
}

function oneOf<T extends string>(values: readonly T[]) {
  return (value: string): T => {
    if (!(values as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${values.join(", ")}`);
    return value as T;
  };
}

/** --kubeconfig, else in-cluster (a pod's ServiceAccount), else $KUBECONFIG / ~/.kube/config. */
export function loadKubeConfig(path: string | undefined): { config: KubeConfig; from: string } {
  const config = new KubeConfig();
  if (path) {
    if (!existsSync(path)) throw new Error(`kubeconfig ${path} does not exist`);
    config.loadFromFile(path);
    return { config, from: path };
  }
  if (process.env.KUBERNETES_SERVICE_HOST && existsSync("/var/run/secrets/kubernetes.io/serviceaccount/token")) {
    config.loadFromCluster();
    return { config, from: "in-cluster service account" };
  }
  config.loadFromDefault();
  if (!config.getCurrentCluster()) throw new Error("no kubeconfig: pass --kubeconfig, set $KUBECONFIG, or run in a pod");
  return { config, from: process.env.KUBECONFIG ? `$KUBECONFIG (${process.env.KUBECONFIG})` : "~/.kube/config" };
}

/**
 * Where injected proxies find ADS: the flag, else where gateway pods find it (--xds-proxy-address)
 * when ADS is on. Unless ADS is plaintext (--xds-plaintext), they speak the shared xDS contract:
 * TLS verified as pilotfish.<namespace>.svc against ConfigMap pilotfish-ca-root, and their
 * projected pilotfish token (docs/injection.md).
 */
function sidecarDiscovery(options: OperatorCommandOptions): DiscoveryAddress | undefined {
  const given = options.sidecarDiscoveryAddress;
  if (given === "off") return undefined;
  let address: { host: string; port: number } | undefined;
  if (given !== undefined) {
    address = parseAddress(given);
    if (address.host === "0.0.0.0" || address.host === "::") throw new InvalidArgumentError(`--sidecar-discovery-address ${given}: name the host proxies dial`);
  } else {
    const proxies = options.xdsProxyAddress ?? xdsProxyAddress(options.xdsAddress, options.namespace);
    address = proxies === undefined ? undefined : parseAddress(proxies);
  }
  if (!address) return undefined;
  return options.xdsPlaintext === true ? address : { ...address, secure: { serverName: `pilotfish.${options.namespace}.svc` } };
}

export function registerOperatorCommand(program: Command): void {
  program
    .command("operator")
    .description(
      "run the operator: watch Gateways, VirtualServices, DestinationRules and what they use, compile the config of every gateway " +
        'proxy (a Deployment labelled pilotfish.io/gateway: "true") and publish it as ConfigMaps pilotfish-<proxy>-{lds,rds,cds,eds} ' +
        "and Secret pilotfish-<proxy>-sds in the proxy's namespace. Exit codes: 0 stopped by SIGTERM/SIGINT, 1 could not start.",
    )
    .option("--kubeconfig <file>", "kubeconfig to use; default: in-cluster service account, else $KUBECONFIG or ~/.kube/config")
    .option("--namespace <namespace>", "namespace the operator runs in (its leader Lease, its webhook CA Secret)", "istio-system")
    .option(
      "--proxy-config-dir <dir>",
      "where gateway pods mount the published objects (a projected volume of the five); written into the bootstrap's file paths",
      "/etc/pilotfish/proxy",
    )
    .option("--health-addr <addr>", "serve /healthz and /readyz here ([host]:port)", ":15080")
    .option("--metrics-addr <addr>", "serve Prometheus /metrics here ([host]:port; may equal --health-addr)", ":15014")
    .option("--log-level <level>", `log level: ${logLevels.join(", ")}`, oneOf(logLevels), "info")
    .option("--log-format <format>", "log format: json (one object per line) or text", oneOf(["json", "text"] as const), "text")
    .option("--debounce <ms>", "quiet time that ends a burst of changes; the first change after a quiet period is published at once", integer(0, 60_000), 100)
    .option("--debounce-max <ms>", "longest a change waits while a burst goes on", integer(0, 600_000), 500)
    .option("--concurrency <n>", "proxies compiled and published at the same time", integer(1, 64), 2)
    .option(
      "--max-file-subscriptions <n>",
      "most file subscriptions (inotify instances: LDS + CDS + one per RDS/EDS/SDS file) a proxy's config may need; above it the last good config stays",
      integer(2, 100_000),
      32,
    )
    .option("--proxy-admin-port <port>", "Envoy admin port in the gateway bootstrap (127.0.0.1 only)", integer(1, 65535), defaultAdminPort)
    .option("--proxy-status-port <port>", "gateway readiness port (/healthz/ready) in the bootstrap", integer(1, 65535), defaultStatusPort)
    .option("--retry-on-503", "Istio <= 1.23 default retry policy (503 retriable)")
    .option(
      "--access-log-file <path>",
      "Istio's meshConfig.accessLogFile: where gateway Envoys write access logs, e.g. /dev/stdout (the labs' setting); empty = none (Istio's default)",
      "",
    )
    .option("--webhook-addr <addr>", "serve the HTTPS webhook (/inject, /validate) here ([host]:port), or off", defaultWebhookAddr)
    .option("--webhook-cert-hosts <names>", "comma-separated DNS names and IPs in the webhook's serving certificate (default: pilotfish.<namespace>.svc[.cluster.local])")
    .option(
      "--webhook-certificates <source>",
      "where the webhook's serving certificate comes from: self (its own CA in Secret pilotfish-webhook-ca, renewed in place, caBundle patched) or " +
        "cert-manager (the kubernetes.io/tls Secret --webhook-cert-secret, re-read when it changes; caBundle left to cert-manager's CA injector)",
      oneOf(webhookCertificateSources),
      "self",
    )
    .option("--webhook-cert-secret <name>", "--webhook-certificates cert-manager: the Secret in --namespace the Certificate writes", defaultServingSecretName)
    .option("--proxy-image <image>", "the injected istio-proxy's image", defaultInjectionSettings.proxyImage)
    .option("--proxy-init-image <image>", "the injected istio-init's image (iptables-restore, sh)", defaultInjectionSettings.proxyInitImage)
    .option("--xds-address <addr>", "serve ADS (xDS over gRPC, SotW and Delta; TLS with a certificate from the operator's CA) here ([host]:port), or off", ":15010")
    .option("--xds-plaintext", "serve ADS in plaintext instead of TLS (for a loopback address, or a network you trust)")
    .option(
      "--xds-auth <mode>",
      "how ADS clients authenticate: kubernetes (a ServiceAccount token of audience pilotfish, checked with a TokenReview, entitled by its pod), " +
        "permissive (the same, but a client without a token is served the config its node names without any secret) or none (every client trusted, secrets included; loopback addresses only, unless --xds-plaintext is given too)",
      oneOf(["kubernetes", "permissive", "none"] as const),
      "kubernetes",
    )
    .option("--xds-cert-hosts <names>", "comma-separated DNS names and IPs in the xDS serving certificate (default: pilotfish.<namespace>.svc[.cluster.local])")
    .option("--xds-debug-addr <addr>", "serve the ADS sync state (/debug/syncz, JSON) here when ADS is on, or off", "127.0.0.1:15011")
    .option(
      "--gateway-mode <mode>",
      "how gateway pods get their config, i.e. the bootstrap published in -lds (the ConfigMaps are published in every mode): " +
        "agent (Envoy → the pod's pilotfish agent over a Unix socket; the chart's default), files (Envoy reads the mounted files), ads (Envoy → this operator's ADS)",
      oneOf(gatewayModes),
      "agent",
    )
    .option("--xds-proxy-address <host:port>", "ads mode: the operator's ADS as gateway pods reach it (default: the --xds-address host, or pilotfish.<namespace>.svc:<port> for a wildcard one)")
    .option("--agent-socket <path>", "agent mode: the agent's Unix socket in the pod (an emptyDir both containers mount)", defaultAgentSocket)
    .option(
      "--sidecar-discovery-address <host:port>",
      "where injected sidecars reach this operator's ADS (their bootstrap's xds-grpc cluster), or off for the static passthrough bootstrap; " +
        "default with --xds-address: the --xds-proxy-address (the --xds-address host, or pilotfish.<namespace>.svc:<port> for a wildcard one), without: off",
    )
    .option("--leader-elect [bool]", "elect one writer among replicas with a Lease; --leader-elect=false for a single replica", boolean, true)
    .option("--leader-elect-lease-duration <duration>", "how long standbys wait after the leader's last renewal before taking over", parseDuration, defaultLeaderElectionTiming.leaseDurationMs)
    .option("--leader-elect-renew-deadline <duration>", "a leader that has not renewed for this long stops writing", parseDuration, defaultLeaderElectionTiming.renewDeadlineMs)
    .option("--leader-elect-retry-period <duration>", "between two attempts to acquire or renew the Lease", parseDuration, defaultLeaderElectionTiming.retryPeriodMs)
    .option("--leader-elect-resource-name <name>", "the Lease's name", defaultLeaseName)
    .option("--leader-elect-resource-namespace <namespace>", "the Lease's namespace (default: --namespace)")
    .action(async (options: OperatorCommandOptions) => {
      const timing = {
        leaseDurationMs: options.leaderElectLeaseDuration,
        renewDeadlineMs: options.leaderElectRenewDeadline,
        retryPeriodMs: options.leaderElectRetryPeriod,
      };
      const problem = options.leaderElect ? timingProblem(timing) : undefined;
      if (problem) throw new InvalidArgumentError(problem);
      const logger = createLogger(options.logLevel, options.logFormat);
      const proxyXdsAddress = options.xdsProxyAddress ?? xdsProxyAddress(options.xdsAddress, options.namespace);
      if (options.gatewayMode === "ads" && !proxyXdsAddress) {
        throw new InvalidArgumentError("--gateway-mode ads needs ADS served: set --xds-address (and --xds-proxy-address if pods reach it by another name)");
      }
      if (options.gatewayMode === "agent" && options.xdsAddress === "off") {
        logger.warn("--gateway-mode agent without --xds-address: the agents serve the mounted files only (no fast path)");
      }
      const { config, from } = loadKubeConfig(options.kubeconfig);
      const metrics = new OperatorMetrics();
      // Set below, once the operator exists: the elector's callbacks reach it through this.
      let onLeadership: (leading: boolean) => void = () => {};
      const elector = options.leaderElect
        ? new LeaderElector({
            ...timing,
            rest: new KubeRest(config),
            kubeConfig: config,
            namespace: options.leaderElectResourceNamespace ?? options.namespace,
            name: options.leaderElectResourceName,
            identity: defaultIdentity(),
            logger,
            onStartedLeading: () => onLeadership(true),
            onStoppedLeading: () => onLeadership(false),
          })
        : undefined;
      metrics.leader.set(elector ? 0 : 1);
      const heartbeat = new EventLoopHeartbeat().start();
      const xdsCertHosts = options.xdsCertHosts ? options.xdsCertHosts.split(",").map((host) => host.trim()).filter(Boolean) : defaultXdsCertHosts(options.namespace);
      const xds =
        options.xdsAddress === "off"
          ? undefined
          : await startOperatorXds({
              kubeConfig: config,
              namespace: options.namespace,
              address: options.xdsAddress,
              plaintext: options.xdsPlaintext === true,
              auth: options.xdsAuth,
              certHosts: xdsCertHosts,
              debugAddress: options.xdsDebugAddr,
              logger,
            });
      // Envoy's NACKs, counted per proxy and type (the message is in the xDS server's log).
      xds?.server.events.on("nack", (nack: { proxy?: string; type: string }) => metrics.xdsRejected.inc({ proxy: nack.proxy ?? "unknown", type: nack.type }));
      const discovery = sidecarDiscovery(options);
      const operator = new Operator({
        kubeConfig: config,
        proxyConfigDir: options.proxyConfigDir.replace(/\/+$/, "") || "/",
        proxyAdminPort: options.proxyAdminPort,
        proxyStatusPort: options.proxyStatusPort,
        gatewayMode: options.gatewayMode,
        agentSocket: options.agentSocket,
        xdsProxyAddress: proxyXdsAddress,
        // ads mode's Envoy verifies the operator as the first name of its serving certificate.
        xdsProxyTls: xds?.caPem !== undefined && xdsCertHosts[0] ? { serverName: xdsCertHosts[0] } : undefined,
        maxFileSubscriptions: options.maxFileSubscriptions,
        debounceMs: options.debounce,
        debounceMaxMs: Math.max(options.debounceMax, options.debounce),
        concurrency: options.concurrency,
        compileOptions: { defaultRetryOn503: options.retryOn503 === true, mesh: { accessLogFile: options.accessLogFile } },
        logger,
        metrics,
        onCompiled: xds?.onCompiled,
        xdsRejections: xds ? (key) => xds.server.rejections(key) : undefined,
        sidecars: xds !== undefined,
        leadership: elector,
      });
      onLeadership = (leading) => {
        metrics.leader.set(leading ? 1 : 0);
        operator.leadershipChanged(leading);
      };
      logger.info(
        `pilotfish operator watching ${operator.server} (kubeconfig: ${from}) in all namespaces: ${Operator.watches().join(", ")}; ` +
          `publishing for Deployments labelled pilotfish.io/gateway=true, config dir ${options.proxyConfigDir}, namespace ${options.namespace}`,
      );
      const servers = [];
      const sameAddress = options.healthAddr === options.metricsAddr;
      const health = await serve(options.healthAddr, {
        health: true,
        live: () => heartbeat.live(),
        ready: () => operator.ready(),
        metrics: sameAddress ? metrics.registry : undefined,
      });
      servers.push(health);
      logger.info(`serving /healthz and /readyz${sameAddress ? " and /metrics" : ""} on ${health.address}`);
      if (!sameAddress) {
        const metricsServer = await serve(options.metricsAddr, { health: false, ready: () => operator.ready(), metrics: metrics.registry });
        servers.push(metricsServer);
        logger.info(`serving /metrics on ${metricsServer.address}`);
      }
      await elector?.start();
      operator.start();
      // A NACK, or the ACK that ends one, changes what the Gateways' Programmed condition says.
      xds?.server.events.on("nack", () => operator.proxySyncChanged());
      xds?.server.events.on("ack", (ack: { recovered?: boolean }) => {
        if (ack.recovered) operator.proxySyncChanged();
      });
      if (options.webhookAddr !== "off") {
        const webhook = await startWebhook({
          kubeConfig: config,
          namespace: options.namespace,
          address: options.webhookAddr,
          certHosts: options.webhookCertHosts ? options.webhookCertHosts.split(",").map((host) => host.trim()).filter(Boolean) : defaultCertHosts(options.namespace),
          injection: {
            ...defaultInjectionSettings,
            proxyImage: options.proxyImage,
            proxyInitImage: options.proxyInitImage,
            ...(discovery ? { discovery } : {}),
          },
          logger,
          registry: metrics.registry,
          mayWrite: elector ? () => elector.isLeader() : undefined,
          certificates: options.webhookCertificates,
          servingSecret: options.webhookCertSecret,
        });
        servers.push(webhook);
      }
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          logger.info(`${signal}: stopping`);
          resolve();
        };
        process.once("SIGTERM", () => stop("SIGTERM"));
        process.once("SIGINT", () => stop("SIGINT"));
      });
      // In-flight reconciles finish (their writes included), then the Lease is released so a
      // standby takes over at once rather than after the lease duration.
      await operator.stop();
      await elector?.release();
      heartbeat.stop();
      await Promise.all(servers.map((server) => server.close()));
      await xds?.close();
      logger.info("stopped");
      // Watches hold sockets open; the work is done, so leave now.
      process.exit(0);
    });
}
