/**
 * The ADS server as the operator runs it: a store fed by every compile (`onCompiled`, the
 * Operator's hook), the gRPC server on `address`, /debug/syncz on `debugAddress`.
 */
import type { EnvoyResources } from "../envoy/resources.js";
import { serveXdsDebug } from "./debug.js";
import { XdsServer } from "./server.js";
import type { XdsLogger } from "./server.js";
import { SnapshotStore } from "./store.js";

export { XdsServer } from "./server.js";
export { SnapshotStore } from "./store.js";
export { adsBootstrap } from "./bootstrap.js";

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

export async function startXds(options: { address: string; plaintext: boolean; debugAddress?: string; logger: XdsLogger }): Promise<XdsServing> {
  const store = new SnapshotStore();
  const server = new XdsServer({ store, logger: options.logger });
  const address = await server.listen(options.address, { plaintext: options.plaintext });
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
