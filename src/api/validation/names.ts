import { isIPv4, isIPv6 } from "node:net";

/*
 * Name and host syntax as Istio checks it (DNS-1123 labels, wildcard-prefixed first labels,
 * `namespace/host` on Gateway servers). Each check returns a message or undefined.
 */

const DNS1123_LABEL = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
// Istio allows a wildcard only in the first label, either alone or as a prefix (`*`, `*.a`, `*foo.a`, `*-foo.a`).
const WILDCARD_LABEL = /^(?:\*|(?:\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)$/;
const LOWER_DNS1123_LABEL = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;

export function isDnsLabel(value: string): boolean {
  return value.length <= 63 && DNS1123_LABEL.test(value);
}

/** Kubernetes namespace / object-name label: lowercase DNS-1123 label. */
export function isLowercaseDnsLabel(value: string): boolean {
  return value.length <= 63 && LOWER_DNS1123_LABEL.test(value);
}

function labelsProblem(domain: string, rest: string): string | undefined {
  const labels = rest.split(".");
  const topLevel = labels[labels.length - 1] ?? "";
  if (/^\d+$/.test(topLevel)) return `domain name "${domain}" is invalid: the top-level domain "${topLevel}" cannot be all-numeric`;
  for (const [index, label] of labels.entries()) {
    if (index === labels.length - 1 && label === "" && labels.length > 1) continue; // trailing dot (FQDN)
    if (!isDnsLabel(label)) return `domain name "${domain}" is invalid: label "${label}" is not a DNS-1123 label (letters, digits and '-', at most 63 characters)`;
  }
  return undefined;
}

/** A host name that may start with a wildcard label (`*`, `*.example.com`). */
export function wildcardDomainProblem(domain: string): string | undefined {
  if (domain.length === 0) return "empty host name is not allowed";
  if (domain.length > 255) return `host name "${domain.slice(0, 32)}…" is too long (at most 255 characters)`;
  const dot = domain.indexOf(".");
  const first = dot < 0 ? domain : domain.slice(0, dot);
  if (first.length > 63 || !WILDCARD_LABEL.test(first)) {
    return first.includes("*")
      ? `host "${domain}" is invalid: a wildcard is allowed only at the start of the first label, e.g. "*.example.com"`
      : `host "${domain}" is invalid: label "${first}" is not a DNS-1123 label`;
  }
  return dot < 0 ? undefined : labelsProblem(domain, domain.slice(dot + 1));
}

/** A host name without wildcard (e.g. a legacy FQDN gateway reference). */
export function fqdnProblem(domain: string): string | undefined {
  if (domain.length === 0) return "empty name is not allowed";
  if (domain.length > 255) return `name "${domain.slice(0, 32)}…" is too long (at most 255 characters)`;
  return labelsProblem(domain, domain);
}

/** Gateway server host: `host`, `ns/host`, `./host` or `*\/host`. */
export function gatewayHostProblem(host: string): string | undefined {
  const slash = host.indexOf("/");
  if (slash < 0) return wildcardDomainProblem(host);
  const namespace = host.slice(0, slash);
  const name = host.slice(slash + 1);
  if (namespace === "" || name === "") return `host "${host}" is invalid: namespace and host name around "/" cannot be empty (use "ns/host", "./host" or "*/host")`;
  if (namespace !== "*" && namespace !== "." && !isDnsLabel(namespace)) {
    return `host "${host}" has an invalid namespace "${namespace}": use "*", "." or a namespace name`;
  }
  return wildcardDomainProblem(name);
}

// node:net's address parsers are pure functions; no I/O happens here.
export function isIP(value: string): boolean {
  return isIPv4(value) || isIPv6(value);
}

/** `10.0.0.0/8`, `::1/128` or a bare address. */
export function isCidrOrIP(value: string): boolean {
  const slash = value.indexOf("/");
  if (slash < 0) return isIP(value);
  const address = value.slice(0, slash);
  const bits = value.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits)) return false;
  if (isIPv4(address)) return Number(bits) <= 32;
  return isIPv6(address) && Number(bits) <= 128;
}

/** Kubernetes label key: optional DNS prefix and a name of at most 63 characters. */
export function labelKeyProblem(label: string): string | undefined {
  const slash = label.lastIndexOf("/");
  const prefix = slash < 0 ? "" : label.slice(0, slash);
  const name = slash < 0 ? label : label.slice(slash + 1);
  if (prefix !== "" && fqdnProblem(prefix)) return `label key "${label}" has an invalid prefix "${prefix}"`;
  if (name.length === 0 || name.length > 63 || !/^[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(name)) {
    return `label key "${label}" is invalid: at most 63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > 63 || !/^[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(value)) {
    return `label value "${value}" is invalid: at most 63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

/** RFC 7230 token: the characters an HTTP header name may contain. */
export function isHeaderName(name: string): boolean {
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name);
}
