/**
 * The webhook's HTTPS server: POST /inject (sidecar injection) and POST /validate (the Istio
 * validator of src/api/admission.ts), GET /healthz. TLS 1.2 or newer only. The serving
 * certificate is swapped in place (`setSecureContext`): handshakes after the swap get the new
 * certificate, connections already open keep going, nothing is dropped.
 */
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { readAdmissionBody, review as validateReview } from "../api/admission.js";
import { answerText, injectReview } from "./inject/review.js";
import type { InjectionSettings } from "./inject/inject.js";

export interface ServingCertificate {
  /** The leaf followed by any intermediates. */
  certificatePem: string;
  privateKeyPem: string;
}

export interface WebhookServerOptions {
  host: string;
  port: number;
  certificate: ServingCertificate;
  injection: InjectionSettings;
  /** Called once per review with what was decided (for the log). */
  onReview?(path: string, summary: string): void;
  /** Called once per answered request: path, HTTP status, seconds from the last body byte to the answer. */
  onAnswered?(path: string, status: number, seconds: number): void;
}

const tlsOptions = { minVersion: "TLSv1.2" as const };

/** The apiserver prefixes a denial with `admission webhook "<name>" denied the request: ` itself. */
const validatorPrefix = /^admission webhook "[^"]*" denied the request: /;

/**
 * The validator checks Istio's API as a user writes it; the apiserver's object also carries
 * fields it adds (managedFields, uid, creationTimestamp...). Only what the operator itself
 * validates is passed on (src/sources/kube/source.ts, asWritten), so both give one verdict.
 */
function asWritten(object: unknown): unknown {
  if (object === null || typeof object !== "object") return object;
  const { apiVersion, kind, metadata, spec } = object as { apiVersion?: unknown; kind?: unknown; metadata?: Record<string, unknown>; spec?: unknown };
  const { name, namespace, labels, annotations } = metadata ?? {};
  return { apiVersion, kind, metadata: { name, namespace, labels, annotations }, spec };
}

export function validate(body: unknown): unknown {
  const request = (body as { request?: { object?: unknown } } | null)?.request;
  const written = request && request.object !== undefined ? { ...(body as object), request: { ...request, object: asWritten(request.object) } } : body;
  const answer = validateReview(written);
  const status = answer.response?.status;
  if (status) status.message = status.message.replace(validatorPrefix, "");
  return answer;
}

export class WebhookServer {
  readonly #server: https.Server;
  readonly #options: WebhookServerOptions;
  #address = "";

  private constructor(options: WebhookServerOptions) {
    this.#options = options;
    this.#server = https.createServer({ ...tlsOptions, cert: options.certificate.certificatePem, key: options.certificate.privateKeyPem }, (request, response) =>
      this.#handle(request, response),
    );
    this.#server.keepAliveTimeout = 30_000;
  }

  static async start(options: WebhookServerOptions): Promise<WebhookServer> {
    const server = new WebhookServer(options);
    await new Promise<void>((resolve, reject) => {
      server.#server.once("error", reject);
      server.#server.listen(options.port, options.host, () => {
        server.#server.off("error", reject);
        resolve();
      });
    });
    const address = server.#server.address() as AddressInfo;
    server.#address = address.family === "IPv6" ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
    return server;
  }

  /** host:port actually bound (port 0 resolved). */
  get address(): string {
    return this.#address;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** New handshakes use this certificate from now on; open connections are untouched. */
  setCertificate(certificate: ServingCertificate): void {
    this.#server.setSecureContext({ ...tlsOptions, cert: certificate.certificatePem, key: certificate.privateKeyPem });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
    });
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? "/").split("?")[0] ?? "/";
    let started: bigint | undefined;
    const send = (code: number, body: unknown, json = typeof body !== "string"): void => {
      const payload = Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
      if (started !== undefined) this.#options.onAnswered?.(path, code, Number(process.hrtime.bigint() - started) / 1e9);
      response.writeHead(code, { "content-type": json ? "application/json" : "text/plain", "content-length": payload.length });
      response.end(payload);
    };
    if (path === "/healthz" && request.method === "GET") return send(200, "ok\n");
    if (path !== "/inject" && path !== "/validate") return send(404, "not found\n");
    if (request.method !== "POST") return send(405, { error: "use POST with an admission.k8s.io/v1 AdmissionReview" });
    readAdmissionBody(request, (raw) => {
      started = process.hrtime.bigint();
      let body: unknown;
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch {
        return send(400, { error: "body is not JSON" });
      }
      try {
        if (path === "/inject") {
          const outcome = injectReview(body, this.#options.injection);
          this.#options.onReview?.(path, outcome.summary);
          return send(200, answerText(outcome.review), true);
        }
        const answer = validate(body) as { response?: { allowed?: boolean; status?: { message?: string } } };
        this.#options.onReview?.(path, answer.response?.allowed === false ? `denied: ${answer.response.status?.message ?? ""}` : "allowed");
        return send(200, answer);
      } catch (error) {
        return send(400, { error: (error as Error).message });
      }
    }, () => send(413, { error: "AdmissionReview too large" }));
  }
}
