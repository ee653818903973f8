/**
 * Host names as Istio compares them: `*` matches everything, `*.a.com` matches any name ending
 * in `.a.com`, other names match exactly (case-insensitively).
 */

export function isWildcard(host: string): boolean {
  return host.startsWith("*");
}

/** Does `pattern` cover `host` (every name `host` can match is matched by `pattern`)? */
export function covers(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase();
  if (p === "*") return true;
  if (p === h) return true;
  if (p.startsWith("*.")) {
    const suffix = p.slice(1);
    if (h.startsWith("*.")) return h.slice(1).endsWith(suffix) && h.length > p.length;
    return h.endsWith(suffix) && h.length > suffix.length;
  }
  return false;
}

/**
 * The names served when a VirtualService host meets a server host: the more specific of the two
 * when one covers the other, nothing otherwise.
 */
export function intersect(virtualServiceHost: string, serverHost: string): string | undefined {
  if (covers(serverHost, virtualServiceHost)) return virtualServiceHost;
  if (covers(virtualServiceHost, serverHost)) return serverHost;
  return undefined;
}

/** A Gateway server host split into its namespace rule and name (`./h`, `ns/h`, `*\/h`, `h`). */
export interface ServerHost {
  /** `*` for any namespace, else the namespace the VirtualService must live in. */
  namespace: string;
  host: string;
}

export function parseServerHost(text: string, gatewayNamespace: string): ServerHost {
  const slash = text.indexOf("/");
  if (slash < 0) return { namespace: "*", host: text };
  const ns = text.slice(0, slash);
  const host = text.slice(slash + 1);
  return { namespace: ns === "." ? gatewayNamespace : ns, host };
}
