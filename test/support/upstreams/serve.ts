/**
 * Runs one bench upstream as its own process, for "pods" (network namespaces, see pods.ts) and
 * as the entrypoint of the test-upstream image (real pods on the bench's node):
 *   serve.ts httpbin|tcp-echo HOST PORT NAME
 *   serve.ts tls HOST PORT NAME CERT_FILE KEY_FILE
 * Prints "READY <host> <port>" once listening and, for httpbin, "HIT <path> <method>" for every
 * request, which the parent (or `kubectl logs`) reads to count hits.
 */
import { readFileSync } from "node:fs";
import { startHttpbin } from "./httpbin.js";
import { startTcpEcho } from "./tcp-echo.js";
import { startTlsServer } from "./tls-server.js";

const [kind, host, portText, name, certFile, keyFile] = process.argv.slice(2);
if (!kind || !host || !portText || !name) {
  process.stderr.write("usage: serve.ts httpbin|tcp-echo HOST PORT NAME | serve.ts tls HOST PORT NAME CERT_FILE KEY_FILE\n");
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
} else if (kind === "tls" && certFile && keyFile) {
  const server = await startTlsServer({ host, port, name, cert: readFileSync(certFile), key: readFileSync(keyFile) });
  process.stdout.write(`READY ${server.host} ${server.port}\n`);
} else {
  process.stderr.write(`unknown upstream kind ${kind} (or missing CERT_FILE KEY_FILE for tls)\n`);
  process.exit(2);
}
// PID 1 in a container gets no default signal handlers: exit on both.
process.once("SIGTERM", () => process.exit(0));
process.once("SIGINT", () => process.exit(0));
