import type { Server } from "node:net";

/** Starts listening and resolves with the bound port (port 0 = the OS picks a free one). */
export function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      const address = server.address();
      if (address && typeof address === "object") resolve(address.port);
      else reject(new Error(`could not read the port bound on ${host}`));
    });
  });
}

/** Closes the server and cuts its open connections so close() does not wait for idle keep-alives. */
export function closeServer(server: Server, sockets: Set<{ destroy(): void }>): Promise<void> {
  return new Promise((resolve) => {
    for (const socket of sockets) socket.destroy();
    server.close(() => resolve());
  });
}

/** Records open sockets of a server (so closeServer can end them). */
export function trackSockets(server: Server): Set<{ destroy(): void }> {
  const sockets = new Set<{ destroy(): void }>();
  server.on("connection", (socket: { destroy(): void; once(event: "close", fn: () => void): void }) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  return sockets;
}
