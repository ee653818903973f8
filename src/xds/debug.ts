/**
 * `/debug/syncz` (JSON): the ADS server's per-proxy, per-type sync state — what
 * `pilotfish proxy-status` will read. Its own small HTTP server (default 127.0.0.1:15011 in the
 * operator), so the xDS layer needs nothing from the controllers' health server.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { grpcAddress } from "./server.js";
import type { XdsServer } from "./server.js";

export async function serveXdsDebug(address: string, server: XdsServer): Promise<{ address: string; close(): Promise<void> }> {
  const { host, target } = grpcAddress(address);
  const port = Number(target.slice(target.lastIndexOf(":") + 1));
  const httpServer = http.createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (path === "/debug/syncz") {
      response.writeHead(200, { "content-type": "application/json" }).end(`${JSON.stringify(server.syncStatus(), null, 2)}\n`);
      return;
    }
    if (path === "/debug/pushz") {
      response.writeHead(200, { "content-type": "application/json" }).end(`${JSON.stringify(server.pushLog.slice(-1000), null, 2)}\n`);
      return;
    }
    response.writeHead(404, { "content-type": "text/plain" }).end("not found: /debug/syncz, /debug/pushz\n");
  });
  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(port, host, () => resolve());
  });
  const bound = httpServer.address() as AddressInfo;
  return {
    address: `${bound.address.includes(":") ? `[${bound.address}]` : bound.address}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        httpServer.closeAllConnections();
        httpServer.close(() => resolve());
      }),
  };
}
