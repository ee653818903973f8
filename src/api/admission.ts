import type { IncomingMessage, ServerResponse } from "node:http";
import { classify, validateResource } from "./validation/index.js";
import type { Finding } from "./validation/index.js";

/*
 * ValidatingAdmissionWebhook handler (admission.k8s.io/v1 AdmissionReview). The apiserver posts a
 * review; we answer allowed/denied with Istio's findings: errors deny, warnings travel back as
 * AdmissionResponse.warnings, which kubectl prints.
 */

interface AdmissionRequest {
  uid: string;
  operation?: string;
  object?: unknown;
}

export interface AdmissionReview {
  apiVersion: "admission.k8s.io/v1";
  kind: "AdmissionReview";
  request?: AdmissionRequest;
  response?: {
    uid: string;
    allowed: boolean;
    status?: { code: number; reason?: string; message: string };
    warnings?: string[];
  };
}

const MAX_BODY_BYTES = 3 * 1024 * 1024; // etcd's object limit is ~1.5 MiB; leave room for the envelope.

/**
 * Collects an AdmissionReview request body, refusing more than the size cap: `onBody` gets the
 * whole body, or `onTooLarge` is called once (answer 413) and the request is dropped.
 */
export function readAdmissionBody(request: IncomingMessage, onBody: (body: Buffer) => void, onTooLarge: () => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  request.on("data", (chunk: Buffer) => {
    if (tooLarge) return;
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      tooLarge = true;
      onTooLarge();
      request.destroy();
      return;
    }
    chunks.push(chunk);
  });
  request.on("end", () => {
    if (!tooLarge) onBody(Buffer.concat(chunks));
  });
}

function line(finding: Finding): string {
  return `${finding.path}: ${finding.message}`;
}

/** Pure core: turns a review into its response. */
export function review(input: unknown): AdmissionReview {
  const request = (input as { request?: AdmissionRequest } | null)?.request;
  if (!request || typeof request.uid !== "string") throw new Error("AdmissionReview without request.uid");
  const reply = (allowed: boolean, extra: Partial<NonNullable<AdmissionReview["response"]>> = {}): AdmissionReview => ({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    response: { uid: request.uid, allowed, ...extra },
  });
  // DELETE carries no object; kinds we do not validate are let through untouched.
  if (request.operation === "DELETE" || request.object === undefined || classify(request.object).type !== "supported") return reply(true);
  const findings = validateResource(request.object);
  const errors = findings.filter((f) => f.severity === "error");
  const warnings = findings.filter((f) => f.severity === "warning").map(line);
  const extra = warnings.length > 0 ? { warnings } : {};
  if (errors.length === 0) return reply(true, extra);
  const object = request.object as { kind: string; metadata?: { name?: string } };
  return reply(false, {
    ...extra,
    status: {
      code: 400,
      reason: "Invalid",
      message: `admission webhook "validation.istio.io" denied the request: ${object.kind} ${object.metadata?.name ?? ""}: ${errors.map(line).join("; ")}`,
    },
  });
}

/** node:http request handler for POST /validate (mount it on the webhook's HTTPS server). */
export function admissionHandler(request: IncomingMessage, response: ServerResponse): void {
  const send = (code: number, body: unknown): void => {
    const text = JSON.stringify(body);
    response.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    response.end(text);
  };
  if (request.method !== "POST") {
    send(405, { error: "use POST with an admission.k8s.io/v1 AdmissionReview" });
    return;
  }
  readAdmissionBody(
    request,
    (raw) => {
      let body: unknown;
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch {
        send(400, { error: "body is not JSON" });
        return;
      }
      try {
        send(200, review(body));
      } catch (error) {
        send(400, { error: (error as Error).message });
      }
    },
    () => send(413, { error: "AdmissionReview too large" }),
  );
}
