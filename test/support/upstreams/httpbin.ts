import http from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import { closeServer, listen, trackSockets } from "./listen.js";

/**
 * An httpbin-like upstream (the book's labs talk to httpbin.org's image). Routes:
 *
 *   /headers            200 {"headers": {...}}: request headers, names as received
 *   /status/:code       that status, empty body
 *   /delay/:seconds     waits (fractions allowed, at most 10 s) plus 20 ms, then 200 like /anything
 *   /anything[/...]     200 {method, url, path, headers, args, data, upstream}
 *   anything else       200 {"upstream": <name>, "path": <path>} — e.g. "/" or "/api/catalog",
 *                       so a test can tell which upstream answered a routed request
 *
 * Every response carries `x-upstream: <name>`. Hits are counted per path (without the query).
 */

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Path and query as received. */
  url: string;
  /** Header names in lower case (node's view); use rawHeaders for the names as sent. */
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
}

export interface HttpbinOptions {
  host?: string;
  port?: number;
  name?: string;
}

export interface Httpbin {
  name: string;
  host: string;
  port: number;
  /** http://host:port */
  url: string;
  /** Requests received for exactly this path (no query), since the start or resetHits(). */
  hits(path: string): number;
  totalHits(): number;
  resetHits(): void;
  /** Every request received, oldest first (cleared by resetHits()). */
  readonly requests: readonly RecordedRequest[];
  close(): Promise<void>;
}

const MAX_DELAY_SECONDS = 10;

/**
 * /delay/N answers N seconds plus this much after the request arrived. The real httpbin is never
 * instantaneous after its sleep, and lab L12 puts a proxy timeout of exactly 1 s in front of
 * /delay/1: Envoy starts its timer before the upstream connection even exists, yet with an
 * answer at exactly +1000 ms the 504 became a coin toss (about half the runs got 200).
 */
const DELAY_SLACK_MS = 20;

export async function startHttpbin(options: HttpbinOptions = {}): Promise<Httpbin> {
  const host = options.host ?? "127.0.0.1";
  const name = options.name ?? "httpbin";
  const hitsByPath = new Map<string, number>();
  const requests: RecordedRequest[] = [];
  const pendingDelays = new Set<NodeJS.Timeout>();

  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://upstream.invalid");
    const path = url.pathname;
    hitsByPath.set(path, (hitsByPath.get(path) ?? 0) + 1);
    requests.push({
      method: request.method ?? "GET",
      path,
      url: request.url ?? "/",
      headers: request.headers,
      rawHeaders: request.rawHeaders,
    });
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      route({ request, response, url, body, name, pendingDelays });
    });
  });
  const sockets = trackSockets(server);
  const port = await listen(server, host, options.port ?? 0);

  return {
    name,
    host,
    port,
    url: `http://${host}:${port}`,
    hits: (path) => hitsByPath.get(path) ?? 0,
    totalHits: () => [...hitsByPath.values()].reduce((sum, count) => sum + count, 0),
    resetHits: () => {
      hitsByPath.clear();
      requests.length = 0;
    },
    requests,
    close: () => {
      for (const timer of pendingDelays) clearTimeout(timer);
      pendingDelays.clear();
      return closeServer(server, sockets);
    },
  };
}

interface Exchange {
  request: IncomingMessage;
  response: ServerResponse;
  url: URL;
  body: string;
  name: string;
  pendingDelays: Set<NodeJS.Timeout>;
}

function route(exchange: Exchange): void {
  const { url, response, name } = exchange;
  response.setHeader("x-upstream", name);
  const path = url.pathname;

  if (path === "/headers") {
    sendJson(response, 200, { headers: headersAsReceived(exchange.request.rawHeaders) });
    return;
  }
  const status = /^\/status\/(\d{3})$/.exec(path);
  if (status) {
    const code = Number(status[1]);
    if (code < 100 || code > 599) {
      sendJson(response, 400, { error: `invalid status code ${code}` });
      return;
    }
    response.writeHead(code).end();
    return;
  }
  const delay = /^\/delay\/(\d+(?:\.\d+)?)$/.exec(path);
  if (delay) {
    const delayMs = Math.min(Number(delay[1]), MAX_DELAY_SECONDS) * 1000 + DELAY_SLACK_MS;
    const deadline = performance.now() + delayMs;
    // Node timers count whole milliseconds of a cached clock and can fire early; wait out any
    // remainder so the answer never comes before the deadline.
    let timer: NodeJS.Timeout;
    const answerWhenDue = (): void => {
      exchange.pendingDelays.delete(timer);
      const remainingMs = deadline - performance.now();
      if (remainingMs > 0) {
        timer = setTimeout(answerWhenDue, Math.ceil(remainingMs));
        exchange.pendingDelays.add(timer);
        return;
      }
      if (!response.destroyed) sendJson(response, 200, anything(exchange));
    };
    timer = setTimeout(answerWhenDue, Math.ceil(delayMs));
    exchange.pendingDelays.add(timer);
    // The caller (Envoy on a timeout) may give up first; nothing to answer then.
    response.on("close", () => {
      clearTimeout(timer);
      exchange.pendingDelays.delete(timer);
    });
    return;
  }
  if (path === "/anything" || path.startsWith("/anything/")) {
    sendJson(response, 200, anything(exchange));
    return;
  }
  sendJson(response, 200, { upstream: name, path });
}

function anything(exchange: Exchange): Record<string, unknown> {
  const args: Record<string, string | string[]> = {};
  for (const key of new Set(exchange.url.searchParams.keys())) {
    const values = exchange.url.searchParams.getAll(key);
    args[key] = values.length === 1 ? (values[0] ?? "") : values;
  }
  return {
    method: exchange.request.method,
    url: exchange.request.url,
    path: exchange.url.pathname,
    headers: headersAsReceived(exchange.request.rawHeaders),
    args,
    data: exchange.body,
    upstream: exchange.name,
  };
}

/** httpbin's shape: one string per header name, as the client spelt it; repeats joined by ",". */
function headersAsReceived(rawHeaders: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const key = rawHeaders[i] as string;
    const value = rawHeaders[i + 1] as string;
    headers[key] = key in headers ? `${headers[key]},${value}` : value;
  }
  return headers;
}

function sendJson(response: ServerResponse, status: number, value: unknown): void {
  const body = `${JSON.stringify(value, null, 2)}\n`;
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }).end(body);
}
