/**
 * Runs one bench upstream as its own process, for "pods" (network namespaces, see pods.ts):
 *   serve.ts httpbin|tcp-echo HOST PORT NAME
 * Prints "READY <host> <port>" once listening and, for httpbin, "HIT <path> <method>" for every
 * request, which the parent reads from the process output to count hits.
 */
import { startHttpbin } from "./httpbin.js";
import { startTcpEcho } from "./tcp-echo.js";

const [kind, host, portText, name] = process.argv.slice(2);
if (!kind || !host || !portText || !name) {
  process.stderr.write("usage: serve.ts httpbin|tcp-echo HOST PORT NAME\n");
  process.exit(2);
}
const port = Number(portText);

if (kind === "httpbin") {
  const server = await startHttpbin({ host, port, name });
  let reported = 0;
  // httpbin records requests in memory; relay them to stdout in order.
  setInterval(() => {
    const requests = server.requests;
    for (; reported < requests.length; reported++) {
      const request = requests[reported];
      if (request) process.stdout.write(`HIT ${request.path} ${request.method}\n`);
    }
  }, 10);
  process.stdout.write(`READY ${server.host} ${server.port}\n`);
} else if (kind === "tcp-echo") {
  const server = await startTcpEcho({ host, port, name });
  process.stdout.write(`READY ${server.host} ${server.port}\n`);
} else {
  process.stderr.write(`unknown upstream kind ${kind}\n`);
  process.exit(2);
}
process.once("SIGTERM", () => process.exit(0));
