/**
 * Which builder translates which kind of server. `http` is built per port (all plain HTTP servers
 * on a port share one filter chain and the `http.<port>` route config), so it is not listed here.
 * A kind with no builder yet is reported as a diagnostic ("not compiled yet") and its server
 * left out: never a broken listener.
 *
 * TLS work: add one import and one entry per module (https.ts, passthrough.ts, tcp.ts) and set
 * `clusterPolicy` when compile/cluster-policy.ts exists.
 */
import type { ClusterPolicyApplier, ServerFilterChainBuilder, ServerKind } from "./types.js";
import { buildHttpsServer } from "./https.js";
import { buildPassthroughServer } from "./passthrough.js";
import { buildTcpServer } from "./tcp.js";
import { applyClusterPolicy } from "../cluster-policy.js";

export const serverBuilders: Partial<Record<Exclude<ServerKind, "http">, ServerFilterChainBuilder>> = {
  https: buildHttpsServer,
  passthrough: buildPassthroughServer,
  tcp: buildTcpServer,
};

export const clusterPolicy: ClusterPolicyApplier | undefined = applyClusterPolicy;
