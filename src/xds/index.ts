/**
 * The ADS server as the operator runs it: a store fed by every compile (`onCompiled`, the
 * Operator's hook), the gRPC server on `address`, /debug/syncz on `debugAddress`.
 */
import type { EnvoyResources } from "../envoy/resources.js";
import type { XdsAuthentication } from "./auth.js";
import { serveXdsDebug } from "./debug.js";
import { XdsServer, grpcAddress, isLoopbackHost } from "./server.js";
import type { XdsLogger } from "./server.js";
import { SnapshotStore } from "./store.js";
import type { XdsCertificate } from "./tls.js";

export { XdsServer } from "./server.js";
export { SnapshotStore } from "./store.js";
export type { XdsLogger } from "./server.js";
export { adsBootstrap } from "./bootstrap.js";
export { XdsAuthError, bearerToken } from "./auth.js";
export type { ProxyIdentity, XdsAuthentication, XdsAuthenticator } from "./auth.js";
export type { XdsCertificate } from "./tls.js";

export interface XdsServing {
  server: XdsServer;
  /** gRPC address bound. */
  address: string;
  /** /debug/syncz address bound, if any. */
  debugAddress: string | undefined;
  /** For Operator's `onCompiled`: stores the config (pushing what changed); logs, never throws. */
  onCompiled(proxyKey: string, resources: EnvoyResources | undefined): void;
  close(): Promise<void>;
}

export interface StartXdsOptions {
  address: string;
  /** Serve TLS with this certificate (renewed with `server.setCertificate`); else plaintext. */
  tls?: XdsCertificate;
  /** Accept plaintext off loopback. */
  plaintext: boolean;
  /** An authenticator, or an explicit `"none"` (loopback only: `pilotfish run`, local tests). */
  authentication: XdsAuthentication;
  /** Clients without a token: refused (default) or served without secrets (XdsServerOptions.anonymous). */
  anonymous?: "refuse" | "serve-without-secrets";
  debugAddress?: string;
  logger: XdsLogger;
}

export async function startXds(options: StartXdsOptions): Promise<XdsServing> {
  const store = new SnapshotStore();
  const server = new XdsServer({ store, logger: options.logger, authentication: options.authentication, anonymous: options.anonymous });
  // Plaintext without authentication off loopback: only both asked for explicitly (the operator's flags).
  const unauthenticatedOffLoopback = options.plaintext && options.authentication === "none";
  const address = await server.listen(options.address, { plaintext: options.plaintext, tls: options.tls, unauthenticatedOffLoopback });
  const offLoopback = !address.startsWith("unix:") && !isLoopbackHost(grpcAddress(address).host);
  if (unauthenticatedOffLoopback && offLoopback) options.logger.warn(`ADS on ${address} is plaintext with no authentication: any client that reaches it can claim any proxy and read its config and secrets`);
  let debug: { address: string; close(): Promise<void> } | undefined;
  try {
    debug = options.debugAddress && options.debugAddress !== "off" ? await serveXdsDebug(options.debugAddress, server) : undefined;
  } catch (error) {
    await server.close();
    throw error;
  }
  if (debug) options.logger.info(`serving /debug/syncz on ${debug.address}`);
  return {
    server,
    address,
    debugAddress: debug?.address,
    onCompiled(proxyKey, resources) {
      try {
        if (resources) store.setSnapshot(proxyKey, resources);
        else store.deleteSnapshot(proxyKey);
      } catch (error) {
        options.logger.warn(`not serving this config over ADS: ${error instanceof Error ? error.message : String(error)}`, { proxy: proxyKey });
      }
    },
    async close() {
      await debug?.close();
      await server.close();
    },
  };
}
