/**
 * /healthz (the process answers and its event loop has not stalled), /readyz (informers synced and
 * the first compile round done; a standby replica is ready too)
 * and /metrics (Prometheus text). Health and metrics may share one address or use two.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export interface Endpoints {
  ready(): { ready: boolean; reason: string };
  /** /healthz: absent = 200 whenever the process answers. */
  live?(): { live: boolean; reason: string };
  metrics?: Registry;
  health: boolean;
}

/** `:8080`, `0.0.0.0:8080`, `127.0.0.1:0`, `[::1]:8080` → host and port. */
export function parseAddress(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address);
  if (!match) throw new Error(`invalid address "${address}": use [host]:port, e.g. :15080 or 127.0.0.1:15080`);
  const port = Number(match[3]);
  if (port > 65535) throw new Error(`invalid port in "${address}"`);
  return { host: match[1] ?? (match[2] || "0.0.0.0"), port };
}

export async function serve(address: string, endpoints: Endpoints): Promise<{ address: string; close(): Promise<void> }> {
  const { host, port } = parseAddress(address);
  const server = http.createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (endpoints.health && path === "/healthz") {
      const { live, reason } = endpoints.live?.() ?? { live: true, reason: "ok" };
      response.writeHead(live ? 200 : 503, { "content-type": "text/plain" }).end(`${reason}\n`);
      return;
    }
    if (endpoints.health && path === "/readyz") {
      const { ready, reason } = endpoints.ready();
      response.writeHead(ready ? 200 : 503, { "content-type": "text/plain" }).end(`${reason}\n`);
      return;
    }
    if (endpoints.metrics && path === "/metrics") {
      const registry = endpoints.metrics;
      registry.metrics().then(
        (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
        (error: unknown) => response.writeHead(500).end(String(error)),
      );
      return;
    }
    response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  return {
    address: `${bound.address.includes(":") ? `[${bound.address}]` : bound.address}:${bound.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
