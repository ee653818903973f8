/**
 * /inject: an admission.k8s.io/v1 AdmissionReview for a pod CREATE in, the review with the
 * injection's JSON Patch out. Pure (the HTTP part is src/webhook/server.ts).
 */
import { injectionDecision, injectionPatchText } from "./inject.js";
import type { InjectionSettings, JsonObject } from "./inject.js";

export interface InjectResponse {
  apiVersion: "admission.k8s.io/v1";
  kind: "AdmissionReview";
  response: {
    uid: string;
    allowed: boolean;
    patchType?: "JSONPatch";
    patch?: string;
    status?: { code: number; reason: string; message: string };
  };
}

export interface InjectOutcome {
  review: InjectResponse;
  /** What happened, for the log: injected, skipped (why) or refused (why). */
  summary: string;
}

interface Request {
  uid?: unknown;
  namespace?: unknown;
  operation?: unknown;
  kind?: { kind?: unknown };
  object?: unknown;
}

export function injectReview(input: unknown, settings: InjectionSettings): InjectOutcome {
  const request = (input as { request?: Request } | null)?.request;
  if (!request || typeof request.uid !== "string") throw new Error("AdmissionReview without request.uid");
  const uid = request.uid;
  const reply = (response: Omit<InjectResponse["response"], "uid">): InjectResponse => ({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid, ...response } });
  const pod = request.object as JsonObject | undefined;
  const namespace = typeof request.namespace === "string" ? request.namespace : "";
  const metadata = (pod?.metadata ?? {}) as { name?: string; generateName?: string };
  const who = `pod ${namespace}/${metadata.name ?? `${metadata.generateName ?? ""}*`}`;
  if (request.operation !== "CREATE" || request.kind?.kind !== "Pod" || !pod || typeof pod !== "object") {
    return { review: reply({ allowed: true }), summary: `${who}: not a pod CREATE, nothing to do` };
  }
  const decision = injectionDecision(pod);
  if (!decision.inject) return { review: reply({ allowed: true }), summary: `${who}: not injected (${decision.reason})` };
  try {
    const { text, operations } = injectionPatchText(pod, namespace, settings);
    if (operations === 0) return { review: reply({ allowed: true }), summary: `${who}: already injected, unchanged` };
    return {
      review: reply({ allowed: true, patchType: "JSONPatch", patch: Buffer.from(text).toString("base64") }),
      summary: `${who}: injected (${operations} patch operations)`,
    };
  } catch (error) {
    const message = `sidecar injection failed: ${(error as Error).message}`;
    return { review: reply({ allowed: false, status: { code: 400, reason: "BadRequest", message } }), summary: `${who}: refused: ${message}` };
  }
}

/**
 * `JSON.stringify(review)`, the same text, without scanning the patch: base64 needs no escaping,
 * and at ~15 kB it is most of the answer.
 */
export function answerText(review: InjectResponse): string {
  const { patch, ...rest } = review.response;
  if (patch === undefined) return JSON.stringify(review);
  const head = JSON.stringify({ apiVersion: review.apiVersion, kind: review.kind, response: rest });
  return `${head.slice(0, -2)},"patch":"${patch}"}}`;
}
