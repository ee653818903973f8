/**
 * Who may have which proxy's config (docs/xds.md, "Authentication"). The xDS layer knows only
 * this contract; the Kubernetes implementation (TokenReview, the token's pod) lives with the
 * controllers, which hold the API client. A stream is served only after:
 *
 * 1. `authenticate` turned the `authorization: Bearer <token>` metadata into an identity
 *    (no token or a token the authenticator rejects: the stream ends with UNAUTHENTICATED);
 * 2. `authorize` said that identity may have the proxy key the node claims (else
 *    PERMISSION_DENIED, and nothing — no secret above all — is sent).
 *
 * The snapshot of a proxy key holds only that proxy's resources (its SDS secrets are its own
 * gateway's credentials), so being entitled to the key is being entitled to its secrets.
 */

/** An authenticated proxy: a ServiceAccount, and the pod the token is bound to when it is. */
export interface ProxyIdentity {
  /** e.g. `system:serviceaccount:istio-system:istio-ingressgateway-service-account`. */
  username: string;
  namespace: string;
  serviceAccount: string;
  podName?: string;
  podUid?: string;
}

/** Why a client was refused, as gRPC reports it. */
export class XdsAuthError extends Error {
  readonly code: "UNAUTHENTICATED" | "PERMISSION_DENIED";
  constructor(code: "UNAUTHENTICATED" | "PERMISSION_DENIED", message: string) {
    super(message);
    this.code = code;
  }
}

export interface XdsAuthenticator {
  /** The identity holding `token`; rejects with XdsAuthError("UNAUTHENTICATED") when it is not valid. */
  authenticate(token: string): Promise<ProxyIdentity>;
  /** Resolves when `identity` may have `proxyKey`'s config; rejects with XdsAuthError("PERMISSION_DENIED", why) otherwise. */
  authorize(identity: ProxyIdentity, proxyKey: string): Promise<void>;
}

/**
 * `"none"`: every client that can reach the port is trusted (its node id decides its config,
 * secrets included). Only on a loopback address, for `pilotfish run` and local tests.
 */
export type XdsAuthentication = XdsAuthenticator | "none";

/** The token of `authorization: Bearer <token>` (the scheme case-insensitive), if any. */
export function bearerToken(values: readonly unknown[]): string | undefined {
  for (const value of values) {
    const text = typeof value === "string" ? value : Buffer.isBuffer(value) ? value.toString("utf8") : "";
    const match = /^\s*bearer\s+(\S+)\s*$/i.exec(text);
    if (match) return match[1];
  }
  return undefined;
}
