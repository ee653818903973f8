import http2 from "node:http2";
import type { TLSSocket } from "node:tls";
import { closeServer, listen, trackSockets } from "./listen.js";

/**
 * An HTTPS upstream that terminates TLS itself with the certificate it is given and answers
 * every request with its own name, so a test of SNI passthrough (lab L9) can tell which backend
 * answered and, from the certificate, that the gateway did not terminate TLS. It speaks HTTP/2
 * and HTTP/1.1 (ALPN), like a typical TLS service.
 *
 * Body: "<name>\n" (text/plain); header x-upstream: <name>.
 */

export interface TlsServerOptions {
  host?: string;
  port?: number;
  name?: string;
  /** PEM certificate chain and private key presented to clients. */
  cert: string | Buffer;
  key: string | Buffer;
}

export interface TlsServer {
  name: string;
  host: string;
  port: number;
  /** https://host:port */
  url: string;
  /** The SNI names clients sent, one entry per request ("" when none). */
  readonly servernames: readonly string[];
  totalHits(): number;
  close(): Promise<void>;
}

export async function startTlsServer(options: TlsServerOptions): Promise<TlsServer> {
  const host = options.host ?? "127.0.0.1";
  const name = options.name ?? "tls-server";
  const servernames: string[] = [];
  const server = http2.createSecureServer({ cert: options.cert, key: options.key, allowHTTP1: true }, (request, response) => {
    const socket = request.socket as TLSSocket;
    servernames.push(typeof socket.servername === "string" ? socket.servername : "");
    request.resume();
    request.on("end", () => {
      response.writeHead(200, { "content-type": "text/plain", "x-upstream": name });
      response.end(`${name}\n`);
    });
  });
  const sockets = trackSockets(server);
  const port = await listen(server, host, options.port ?? 0);
  return {
    name,
    host,
    port,
    url: `https://${host}:${port}`,
    servernames,
    totalHits: () => servernames.length,
    close: () => closeServer(server, sockets),
  };
}
