import net from "node:net";
import { closeServer, listen, trackSockets } from "./listen.js";

/**
 * The book's tcp-echo-server: a greeting line on connect, then every byte echoed back.
 */

export interface TcpEchoOptions {
  host?: string;
  port?: number;
  name?: string;
  /** Sent on connect; default "Welcome, you are connected to node <name>.\r\n"; "" for none. */
  greeting?: string;
}

export interface TcpEcho {
  name: string;
  host: string;
  port: number;
  /** Connections accepted since the start. */
  connections(): number;
  close(): Promise<void>;
}

export async function startTcpEcho(options: TcpEchoOptions = {}): Promise<TcpEcho> {
  const host = options.host ?? "127.0.0.1";
  const name = options.name ?? "tcp-echo";
  const greeting = options.greeting ?? `Welcome, you are connected to node ${name}.\r\n`;
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    socket.on("error", () => socket.destroy());
    if (greeting) socket.write(greeting);
    socket.pipe(socket);
  });
  const sockets = trackSockets(server);
  const port = await listen(server, host, options.port ?? 0);
  return { name, host, port, connections: () => accepted, close: () => closeServer(server, sockets) };
}
