/**
 * The xDS server's authenticator, the Kubernetes way (docs/xds.md, "Authentication"):
 *
 * - authenticate: a TokenReview of the bearer token with audience `pilotfish` (a projected
 *   ServiceAccount token); the answer names the ServiceAccount and, for a token bound to a pod
 *   (every projected token in a pod is), the pod's name and uid. Answers are cached by the
 *   token's hash for a bounded time (never past the token's own expiry), refusals briefly.
 * - authorize: proxy key `<namespace>/<workload>` is granted to a token bound to a pod of that
 *   workload in that namespace: the pod (read once per uid) must still be the token's (same
 *   uid) and its workload — Istio's rule: the controlling ReplicaSet's Deployment, else the
 *   controller's name, else the pod's name — must be `<workload>`. A token bound to no pod is
 *   refused: it proves a ServiceAccount, not which workload's config (and secrets) it may read.
 */
import { createHash } from "node:crypto";
import { KubeApiError } from "../sources/kube/rest.js";
import type { KubeObject, KubeRest } from "../sources/kube/rest.js";
import { XdsAuthError } from "../xds/auth.js";
import type { ProxyIdentity, XdsAuthenticator } from "../xds/auth.js";

export const xdsTokenAudience = "pilotfish";

export interface KubeXdsAuthenticatorOptions {
  rest: Pick<KubeRest, "create" | "get">;
  audience?: string;
  /** How long a TokenReview answer is trusted (default 60 s; never past the token's expiry). */
  reviewTtlMs?: number;
  /** How long a refused token stays refused without asking again (default 5 s). */
  refusalTtlMs?: number;
  /** How long a pod's workload is remembered (default 5 min; keyed by uid, which a new pod never reuses). */
  podTtlMs?: number;
  /** Most cached answers of each kind (default 10,000; the oldest go first). */
  maxEntries?: number;
  now?: () => number;
}

interface Cached<T> {
  value: T;
  until: number;
}

/** A Map with expiry and a size bound (insertion order: the oldest entry is dropped first). */
class BoundedCache<T> {
  readonly #entries = new Map<string, Cached<T>>();
  constructor(
    readonly max: number,
    readonly now: () => number,
  ) {}
  get(key: string): T | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.until <= this.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }
  set(key: string, value: T, ttlMs: number): void {
    this.#entries.delete(key);
    while (this.#entries.size >= this.max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, until: this.now() + ttlMs });
  }
  get size(): number {
    return this.#entries.size;
  }
}

type Review = { identity: ProxyIdentity } | { refused: string };

/** The `exp` claim of a JWT (seconds), read without verifying (only to bound a cache entry's life). */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { exp?: unknown };
    return typeof claims.exp === "number" ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** The identity a TokenReview's status names, or why it is refused. */
export function identityFromReview(status: Record<string, unknown> | undefined, audience: string): Review {
  if (!status || status.authenticated !== true) {
    const error = typeof status?.error === "string" && status.error !== "" ? status.error : "not authenticated";
    return { refused: `the token was not accepted by the apiserver: ${error}` };
  }
  const audiences = status.audiences;
  if (Array.isArray(audiences) && !audiences.includes(audience)) return { refused: `the token's audiences (${audiences.join(", ")}) do not include ${audience}` };
  const user = (status.user ?? {}) as { username?: unknown; extra?: Record<string, unknown> };
  const username = typeof user.username === "string" ? user.username : "";
  const match = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  if (!match) return { refused: `${username || "the token's user"} is not a ServiceAccount: proxies authenticate with a projected ServiceAccount token` };
  const first = (key: string): string | undefined => {
    const values = user.extra?.[key];
    return Array.isArray(values) && typeof values[0] === "string" && values[0] !== "" ? values[0] : undefined;
  };
  return {
    identity: {
      username,
      namespace: match[1]!,
      serviceAccount: match[2]!,
      podName: first("authentication.kubernetes.io/pod-name"),
      podUid: first("authentication.kubernetes.io/pod-uid"),
    },
  };
}

interface OwnerReference {
  kind?: string;
  name?: string;
  controller?: boolean;
}

/**
 * A pod's workload name, Istio's way (pkg/kube GetDeployMetaFromPod): a pod controlled by a
 * ReplicaSet named `<deployment>-<pod-template-hash>` belongs to that Deployment; a pod with another
 * controller belongs to the controller; a pod without one is its own workload.
 */
export function workloadOfPod(pod: { metadata?: { name?: string; labels?: Record<string, string>; ownerReferences?: OwnerReference[] } }): string {
  const name = pod.metadata?.name ?? "";
  const owners = (pod.metadata?.ownerReferences ?? []).filter((owner) => owner.controller === true);
  const controller = owners[0];
  if (!controller?.name) return name;
  const hash = pod.metadata?.labels?.["pod-template-hash"];
  if (controller.kind === "ReplicaSet" && hash && controller.name.endsWith(`-${hash}`)) return controller.name.slice(0, -(hash.length + 1));
  return controller.name;
}

export class KubeXdsAuthenticator implements XdsAuthenticator {
  readonly #rest: KubeXdsAuthenticatorOptions["rest"];
  readonly #audience: string;
  readonly #reviewTtlMs: number;
  readonly #refusalTtlMs: number;
  readonly #podTtlMs: number;
  readonly #now: () => number;
  readonly #reviews: BoundedCache<Review>;
  readonly #pods: BoundedCache<{ workload: string; uid: string }>;
  /** TokenReviews asked of the apiserver (the cache's misses), for tests and metrics. */
  reviewsRequested = 0;

  constructor(options: KubeXdsAuthenticatorOptions) {
    this.#rest = options.rest;
    this.#audience = options.audience ?? xdsTokenAudience;
    this.#reviewTtlMs = options.reviewTtlMs ?? 60_000;
    this.#refusalTtlMs = options.refusalTtlMs ?? 5_000;
    this.#podTtlMs = options.podTtlMs ?? 300_000;
    this.#now = options.now ?? Date.now;
    const max = options.maxEntries ?? 10_000;
    this.#reviews = new BoundedCache(max, this.#now);
    this.#pods = new BoundedCache(max, this.#now);
  }

  async authenticate(token: string): Promise<ProxyIdentity> {
    const key = createHash("sha256").update(token).digest("hex");
    let review = this.#reviews.get(key);
    if (!review) {
      this.reviewsRequested++;
      const answer = await this.#rest.create("/apis/authentication.k8s.io/v1/tokenreviews", {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenReview",
        spec: { token, audiences: [this.#audience] },
      });
      review = identityFromReview(answer.status as Record<string, unknown> | undefined, this.#audience);
      const expiry = tokenExpiry(token);
      const ttl = "identity" in review ? this.#reviewTtlMs : this.#refusalTtlMs;
      const bounded = expiry === undefined ? ttl : Math.min(ttl, expiry - this.#now());
      if (bounded > 0) this.#reviews.set(key, review, bounded);
    }
    if ("refused" in review) throw new XdsAuthError("UNAUTHENTICATED", review.refused);
    return review.identity;
  }

  async authorize(identity: ProxyIdentity, proxyKey: string): Promise<void> {
    const slash = proxyKey.indexOf("/");
    const namespace = proxyKey.slice(0, slash);
    const workload = proxyKey.slice(slash + 1);
    const who = `ServiceAccount ${identity.namespace}/${identity.serviceAccount}`;
    if (identity.namespace !== namespace) throw new XdsAuthError("PERMISSION_DENIED", `${who} may not have proxy ${proxyKey}'s config: a proxy is served only from its own namespace's identity`);
    if (!identity.podName || !identity.podUid) {
      throw new XdsAuthError("PERMISSION_DENIED", `${who}'s token is bound to no pod: use the projected ServiceAccount token (audience ${this.#audience}) mounted in a pod of ${proxyKey}`);
    }
    const pod = await this.#podWorkload(namespace, identity.podName, identity.podUid);
    if (pod.workload !== workload) {
      throw new XdsAuthError("PERMISSION_DENIED", `pod ${namespace}/${identity.podName} belongs to workload ${pod.workload}, not ${workload}: it may not have proxy ${proxyKey}'s config`);
    }
  }

  async #podWorkload(namespace: string, name: string, uid: string): Promise<{ workload: string; uid: string }> {
    const cached = this.#pods.get(uid);
    if (cached) return cached;
    let pod: KubeObject | undefined;
    try {
      pod = await this.#rest.get(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`);
    } catch (error) {
      const reason = error instanceof KubeApiError ? error.message : String(error);
      throw new XdsAuthError("PERMISSION_DENIED", `cannot read pod ${namespace}/${name} to check which workload it is: ${reason}`);
    }
    if (!pod || pod.metadata?.uid !== uid) throw new XdsAuthError("PERMISSION_DENIED", `pod ${namespace}/${name} with uid ${uid} (the token's) no longer exists`);
    const entry = { workload: workloadOfPod(pod as { metadata?: { name?: string; labels?: Record<string, string>; ownerReferences?: OwnerReference[] } }), uid };
    this.#pods.set(uid, entry, this.#podTtlMs);
    return entry;
  }
}
