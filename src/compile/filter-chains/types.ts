/**
 * The contract for one Gateway server's part of a listener. Listener assembly
 * (compile/listeners.ts) groups the servers of all selected Gateways by listener port, then asks
 * the builder for each server's kind for its filter chains. Builders are pure functions of a
 * ServerContext; they return Envoy JSON plus what they need elsewhere (route configurations,
 * SDS secrets, clusters to create) and diagnostics instead of throwing.
 */
import type { Diagnostic, CompileOptions } from "../output.js";
import type { EnvoyJson, EnvoyResource } from "../../envoy/resources.js";
import type { GatewayProxy } from "../../model/proxy.js";
import type { Snapshot } from "../../model/snapshot.js";
import type { Destination, Gateway, Server, TrafficPolicy, VirtualService } from "../../model/istio.js";

/**
 * How a server is translated:
 * - `http`: plain HTTP (HTTP, HTTP2, GRPC without tls) — shared `http.<port>` route config;
 * - `https`: TLS terminated, then HTTP (HTTPS with SIMPLE/MUTUAL/OPTIONAL_MUTUAL/ISTIO_MUTUAL);
 * - `passthrough`: TLS not terminated, routed by SNI (HTTPS/TLS with PASSTHROUGH/AUTO_PASSTHROUGH);
 * - `tls`: TLS terminated, then TCP (protocol TLS with a terminating mode);
 * - `tcp`: plain TCP (TCP, MONGO, and other opaque protocols).
 */
export type ServerKind = "http" | "https" | "passthrough" | "tls" | "tcp";

/** A VirtualService bound to this server, with the hosts it may serve through it. */
export interface BoundVirtualService {
  virtualService: VirtualService;
  /** Intersection of the VirtualService's hosts and the server's hosts (as VirtualService hosts). */
  hosts: string[];
}

/** An upstream cluster a builder routes to; the compiler creates each distinct one once. */
export interface ClusterRef {
  /** `outbound|<port>|<subset>|<fqdn>` */
  name: string;
  /** Resolved FQDN of the destination. */
  host: string;
  port: number;
  subset?: string;
}

/** Result of resolving a Destination: the cluster, or a diagnostic why there is none. */
/** A cluster (with a warning when the destination was usable only after a correction), or why none. */
export type ClusterResolution = { cluster: ClusterRef; warning?: Diagnostic } | { diagnostic: Diagnostic };

export interface ServerContext {
  readonly snapshot: Snapshot;
  readonly proxy: GatewayProxy;
  readonly options: CompileOptions;
  readonly gateway: Gateway;
  readonly server: Server;
  /** Index of the server in `gateway.spec.servers` (for diagnostics' `field`). */
  readonly serverIndex: number;
  /** The port Envoy listens on (the Service's targetPort for the server's port). */
  readonly listenerPort: number;
  /** VirtualServices bound to this server, in precedence order. */
  readonly virtualServices: readonly BoundVirtualService[];
  /** Server hosts without their `ns/` part (e.g. SNI server names). */
  readonly hostNames: readonly string[];
  /**
   * An `envoy.filters.network.http_connection_manager` filter that takes its routes over RDS
   * from the named route configuration (with Istio's access log and the standard filters).
   */
  httpConnectionManager(routeConfigName: string, statPrefix: string): EnvoyJson;
  /**
   * The route configuration for this server's bound VirtualServices' `http` routes, as HTTP
   * servers get it (virtual hosts `<host>:<server port>`, blackhole when empty).
   */
  routeConfiguration(routeConfigName: string): {
    routeConfiguration: EnvoyResource;
    clusterRefs: ClusterRef[];
    diagnostics: Diagnostic[];
  };
  /**
   * Names the cluster for a destination written in `virtualService` (short hosts resolved in its
   * namespace; port from the destination, else the service's only port).
   */
  clusterFor(destination: Destination, virtualService: VirtualService, field: string): ClusterResolution;
  /** A diagnostic about this server (field relative to `spec.servers[i]`). */
  serverDiagnostic(severity: Diagnostic["severity"], field: string, message: string): Diagnostic;
}

export interface ServerFilterChains {
  filterChains: EnvoyJson[];
  routes?: EnvoyResource[];
  secrets?: EnvoyResource[];
  clusterRefs?: ClusterRef[];
  diagnostics: Diagnostic[];
}

export type ServerFilterChainBuilder = (ctx: ServerContext) => ServerFilterChains;

/**
 * DestinationRule traffic policy on an upstream cluster (owned by compile/cluster-policy.ts):
 * given the cluster the compiler built and the effective policy (subset policy merged over the
 * rule's), returns the cluster with the policy applied, plus any secrets it references.
 */
export interface ClusterPolicyInput {
  cluster: EnvoyJson;
  ref: ClusterRef;
  policy: TrafficPolicy | undefined;
  snapshot: Snapshot;
  proxy: GatewayProxy;
  /** Where the policy came from, for diagnostics. */
  destinationRule?: { namespace: string; name: string; field: string };
}

export interface ClusterPolicyResult {
  cluster: EnvoyJson;
  secrets?: EnvoyResource[];
  diagnostics: Diagnostic[];
}

export type ClusterPolicyApplier = (input: ClusterPolicyInput) => ClusterPolicyResult;
