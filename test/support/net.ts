import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import net from "node:net";
import type { PeerCertificate, TLSSocket } from "node:tls";

/** A port that was free a moment ago on `host` (the OS picks it; a tiny race is accepted). */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === "object") resolve(address.port);
        else reject(new Error(`could not read the port bound on ${host}`));
      });
    });
  });
}

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What is awaited, for the error message ("Envoy admin /ready on :15000"). */
  what?: string;
}

/**
 * Calls `probe` until it returns a value other than undefined/false, and returns that value.
 * Errors thrown by the probe count as "not yet"; the last one is quoted if time runs out.
 */
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  options: WaitForOptions = {},
): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 100, what = "condition" } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  const reason = lastError === undefined ? "it never became true" : `last error: ${errorText(lastError)}`;
  throw new Error(`timed out after ${timeoutMs} ms (${attempts} attempts) waiting for ${what}: ${reason}`);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export interface HttpRequestOptions {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** PEM: CA to trust (otherwise the system store). */
  ca?: string | Buffer;
  /** PEM: client certificate and key for mutual TLS. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** TLS SNI and the name the server certificate is checked against; defaults to the URL host when it is a name. */
  servername?: string;
  /** Skip server certificate verification (still reports the peer certificate). */
  insecure?: boolean;
  /** Use HTTP/2 (ALPN h2 over TLS, or prior-knowledge h2c for http: URLs). */
  http2?: boolean;
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  /** Header names in lower case; repeated headers other than set-cookie joined with ", ". */
  headers: Record<string, string>;
  body: string;
  /** "1.1" or "2.0". */
  httpVersion: string;
  /** For TLS: the ALPN protocol negotiated ("h2", "http/1.1"), or false when none was. */
  alpnProtocol?: string | false;
  /** For TLS: the server certificate's subject and issuer common names. */
  peerCertificate?: { subjectCN: string | undefined; issuerCN: string | undefined; subjectAltName: string | undefined };
}

/**
 * One request on a fresh connection, closed afterwards, so that tests counting upstream hits
 * or connections are not confused by pooling.
 */
export function httpRequest(options: HttpRequestOptions): Promise<HttpResponse> {
  return options.http2 ? http2Request(options) : http1Request(options);
}

function defaultServername(url: URL, explicit: string | undefined): string | undefined {
  if (explicit !== undefined) return explicit;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return net.isIP(host) ? undefined : host;
}

function certificateSummary(certificate: PeerCertificate | undefined): HttpResponse["peerCertificate"] {
  if (!certificate || Object.keys(certificate).length === 0) return undefined;
  const name = (field: string | string[] | undefined): string | undefined => (Array.isArray(field) ? field[0] : field);
  return {
    subjectCN: name(certificate.subject?.CN),
    issuerCN: name(certificate.issuer?.CN),
    subjectAltName: certificate.subjectaltname,
  };
}

function tlsFacts(socket: TLSSocket): Pick<HttpResponse, "alpnProtocol" | "peerCertificate"> {
  return { alpnProtocol: socket.alpnProtocol ?? false, peerCertificate: certificateSummary(socket.getPeerCertificate()) };
}

function flattenHeaders(headers: http.IncomingHttpHeaders | http2.IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(":")) continue;
    flat[name] = Array.isArray(value) ? value.join(", ") : String(value);
  }
  return flat;
}

function http1Request(options: HttpRequestOptions): Promise<HttpResponse> {
  const url = new URL(options.url);
  const isTls = url.protocol === "https:";
  const timeoutMs = options.timeoutMs ?? 10_000;
  const servername = defaultServername(url, options.servername);
  return new Promise((resolve, reject) => {
    const requestOptions: https.RequestOptions = {
      method: options.method ?? "GET",
      headers: { connection: "close", ...options.headers },
      agent: false,
      timeout: timeoutMs,
    };
    if (isTls) {
      Object.assign(requestOptions, {
        ca: options.ca,
        cert: options.cert,
        key: options.key,
        servername,
        rejectUnauthorized: !options.insecure,
        ALPNProtocols: ["http/1.1"],
      });
    }
    const request = (isTls ? https : http).request(url, requestOptions, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("error", reject);
      response.on("end", () => {
        resolve({
          status: response.statusCode ?? 0,
          headers: flattenHeaders(response.headers),
          body: Buffer.concat(chunks).toString("utf8"),
          httpVersion: response.httpVersion,
          ...(isTls ? tlsFacts(response.socket as TLSSocket) : {}),
        });
      });
    });
    request.on("timeout", () => request.destroy(new Error(`${requestOptions.method} ${options.url} timed out after ${timeoutMs} ms`)));
    request.on("error", reject);
    request.end(options.body);
  });
}

function http2Request(options: HttpRequestOptions): Promise<HttpResponse> {
  const url = new URL(options.url);
  const isTls = url.protocol === "https:";
  const timeoutMs = options.timeoutMs ?? 10_000;
  const servername = defaultServername(url, options.servername);
  return new Promise((resolve, reject) => {
    const session = http2.connect(url.origin, {
      ca: options.ca,
      cert: options.cert,
      key: options.key,
      servername,
      rejectUnauthorized: !options.insecure,
    });
    const fail = (error: Error): void => {
      session.destroy();
      reject(error);
    };
    session.on("error", fail);
    session.setTimeout(timeoutMs, () => fail(new Error(`HTTP/2 ${options.url} timed out after ${timeoutMs} ms`)));
    const headers: http2.OutgoingHttpHeaders = {
      ":method": options.method ?? "GET",
      ":path": url.pathname + url.search,
    };
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      // HTTP/2 carries Host as :authority.
      if (name.toLowerCase() === "host") headers[":authority"] = value;
      else headers[name.toLowerCase()] = value;
    }
    const stream = session.request(headers);
    stream.on("error", fail);
    let status = 0;
    let responseHeaders: Record<string, string> = {};
    stream.on("response", (received) => {
      status = Number(received[":status"] ?? 0);
      responseHeaders = flattenHeaders(received);
    });
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      const facts = isTls && session.socket ? tlsFacts(session.socket as TLSSocket) : {};
      session.close();
      resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks).toString("utf8"), httpVersion: "2.0", ...facts });
    });
    stream.end(options.body);
  });
}

export interface TcpExchangeOptions {
  timeoutMs?: number;
  /** When the exchange is complete; default: the received text ends with the payload (an echo). */
  until?: (received: string) => boolean;
}

/**
 * Connects, sends `payload`, and returns everything received (a greeting, then the echo) once
 * `until` holds or the server closes the connection. Times out with what was received so far.
 */
export function tcpExchange(host: string, port: number, payload: string, options: TcpExchangeOptions = {}): Promise<string> {
  const { timeoutMs = 5000, until = (received: string) => received.endsWith(payload) } = options;
  return new Promise((resolve, reject) => {
    let received = "";
    let settled = false;
    const socket = net.connect({ host, port });
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(received);
    };
    const timer = setTimeout(
      () => finish(new Error(`TCP exchange with ${host}:${port} timed out after ${timeoutMs} ms; received ${JSON.stringify(received)}`)),
      timeoutMs,
    );
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(payload));
    socket.on("data", (chunk: string) => {
      received += chunk;
      if (until(received)) finish();
    });
    socket.on("end", () => finish());
    socket.on("error", (error) => finish(error));
  });
}
