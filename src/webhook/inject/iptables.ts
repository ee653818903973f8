/**
 * The sidecar's traffic capture as an `iptables-restore` file for the nat table: our own small
 * equivalent of `istio-iptables -p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x '' -b '*' -d
 * 15090,15021,15020` (Istio's tools/istio-iptables, REDIRECT mode, IPv4), with the same chain
 * names and rule order so that `iptables-save` in an injected pod reads like Istio's.
 *
 * Pure: settings in, text out. The init container pipes the text into `iptables-restore`
 * (which replaces the pod's nat table atomically, so a restarted init container yields the same
 * table).
 */

export interface CaptureSettings {
  /** Outbound capture port (`-p`), Envoy's virtualOutbound. */
  outboundPort: number;
  /** Inbound capture port (`-z`), Envoy's virtualInbound. */
  inboundPort: number;
  /** The proxy's uid and gid (`-u`, `-g`): its own traffic is never captured. */
  proxyUid: number;
  proxyGid: number;
  /** `-i`: CIDRs whose outbound traffic is captured; `["*"]` all, `[]` none. */
  includeOutboundIpRanges: readonly string[];
  /** `-x`: CIDRs never captured outbound. */
  excludeOutboundIpRanges: readonly string[];
  /** `-b`: inbound ports captured; `["*"]` all, `[]` none. */
  includeInboundPorts: readonly string[];
  /** `-d`: inbound ports never captured (with `-b '*'`). */
  excludeInboundPorts: readonly number[];
  /** `-o`: outbound ports never captured. */
  excludeOutboundPorts: readonly number[];
}

/** Istio's defaults, as the seed's istio-init shows them. */
export const defaultCapture: CaptureSettings = {
  outboundPort: 15001,
  inboundPort: 15006,
  proxyUid: 1337,
  proxyGid: 1337,
  includeOutboundIpRanges: ["*"],
  excludeOutboundIpRanges: [],
  includeInboundPorts: ["*"],
  excludeInboundPorts: [15090, 15021, 15020],
  excludeOutboundPorts: [],
};

/** The source address Envoy binds for inbound passthrough (Istio's 127.0.0.6): never re-captured. */
export const inboundPassthroughSource = "127.0.0.6";

/** The equivalent `istio-iptables` arguments, for people comparing with Istio (and the seed). */
export function istioIptablesArgs(settings: CaptureSettings): string[] {
  const list = (values: readonly (string | number)[]): string => values.join(",");
  const args = [
    "-p", String(settings.outboundPort),
    "-z", String(settings.inboundPort),
    "-u", String(settings.proxyUid),
    "-m", "REDIRECT",
    "-i", list(settings.includeOutboundIpRanges),
    "-x", list(settings.excludeOutboundIpRanges),
    "-b", list(settings.includeInboundPorts),
    "-d", list(settings.excludeInboundPorts),
  ];
  if (settings.excludeOutboundPorts.length > 0) args.push("-o", list(settings.excludeOutboundPorts));
  return args;
}

/** The nat table, in iptables-restore format (ends with COMMIT and a newline). */
export function captureRules(settings: CaptureSettings): string {
  const uid = settings.proxyUid;
  const gid = settings.proxyGid;
  // Grouped by chain in iptables-save's order (built-in chains first, then ours as declared),
  // with the matches spelled as iptables-save prints them (`-m tcp` before `--dport`), so the
  // text in the pod spec is byte for byte what `iptables-save -t nat` shows in the pod.
  const chains: Record<"PREROUTING" | "OUTPUT" | "ISTIO_INBOUND" | "ISTIO_IN_REDIRECT" | "ISTIO_OUTPUT" | "ISTIO_REDIRECT", string[]> = {
    PREROUTING: [],
    OUTPUT: [],
    ISTIO_INBOUND: [],
    ISTIO_IN_REDIRECT: [],
    ISTIO_OUTPUT: [],
    ISTIO_REDIRECT: [],
  };
  const add = (chain: keyof typeof chains, rule: string): number => chains[chain].push(`-A ${chain} ${rule}`);

  // Inbound: everything arriving for the pod, except the excluded ports, goes to 15006.
  const inboundAll = settings.includeInboundPorts.includes("*");
  if (inboundAll || settings.includeInboundPorts.length > 0) {
    add("PREROUTING", "-p tcp -j ISTIO_INBOUND");
    if (inboundAll) {
      for (const port of settings.excludeInboundPorts) add("ISTIO_INBOUND", `-p tcp -m tcp --dport ${port} -j RETURN`);
      add("ISTIO_INBOUND", "-p tcp -j ISTIO_IN_REDIRECT");
    } else {
      for (const port of settings.includeInboundPorts) add("ISTIO_INBOUND", `-p tcp -m tcp --dport ${port} -j ISTIO_IN_REDIRECT`);
    }
  }
  add("ISTIO_IN_REDIRECT", `-p tcp -j REDIRECT --to-ports ${settings.inboundPort}`);

  // Outbound: the app's TCP to anywhere goes to 15001; the proxy's own (uid/gid 1337) does not.
  add("OUTPUT", "-p tcp -j ISTIO_OUTPUT");
  for (const port of settings.excludeOutboundPorts) add("ISTIO_OUTPUT", `-p tcp -m tcp --dport ${port} -j RETURN`);
  // Envoy's inbound passthrough connects from 127.0.0.6 to the pod's own IP: let it through.
  add("ISTIO_OUTPUT", `-s ${inboundPassthroughSource}/32 -o lo -j RETURN`);
  // The proxy talking to the pod's own IP over lo (app calling itself through its Service) is inbound.
  add("ISTIO_OUTPUT", `! -d 127.0.0.1/32 -o lo -p tcp -m owner --uid-owner ${uid} -j ISTIO_IN_REDIRECT`);
  add("ISTIO_OUTPUT", `-o lo -m owner ! --uid-owner ${uid} -j RETURN`);
  add("ISTIO_OUTPUT", `-m owner --uid-owner ${uid} -j RETURN`);
  add("ISTIO_OUTPUT", `! -d 127.0.0.1/32 -o lo -p tcp -m owner --gid-owner ${gid} -j ISTIO_IN_REDIRECT`);
  add("ISTIO_OUTPUT", `-o lo -m owner ! --gid-owner ${gid} -j RETURN`);
  add("ISTIO_OUTPUT", `-m owner --gid-owner ${gid} -j RETURN`);
  add("ISTIO_OUTPUT", "-d 127.0.0.1/32 -j RETURN");
  for (const cidr of settings.excludeOutboundIpRanges) add("ISTIO_OUTPUT", `-d ${cidr} -j RETURN`);
  if (settings.includeOutboundIpRanges.includes("*")) {
    add("ISTIO_OUTPUT", "-j ISTIO_REDIRECT");
  } else {
    for (const cidr of settings.includeOutboundIpRanges) add("ISTIO_OUTPUT", `-d ${cidr} -j ISTIO_REDIRECT`);
    add("ISTIO_OUTPUT", "-j RETURN");
  }
  add("ISTIO_REDIRECT", `-p tcp -j REDIRECT --to-ports ${settings.outboundPort}`);

  const ours = ["ISTIO_INBOUND", "ISTIO_IN_REDIRECT", "ISTIO_OUTPUT", "ISTIO_REDIRECT"];
  return ["*nat", ...ours.map((chain) => `:${chain} - [0:0]`), ...Object.values(chains).flat(), "COMMIT", ""].join("\n");
}

const ipv4Cidr = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}(\/(3[0-2]|[12]?\d))?$/;

/** A comma-separated list of IPv4 CIDRs (or `*`), as Istio's traffic annotations take it. */
export function parseCidrs(value: string, annotation: string, allowStar: boolean): string[] {
  const items = value.split(",").map((item) => item.trim()).filter((item) => item !== "");
  for (const item of items) {
    if (item === "*" && allowStar) continue;
    if (!ipv4Cidr.test(item)) throw new Error(`annotation ${annotation}: "${item}" is not an IPv4 CIDR${allowStar ? " or *" : ""}`);
  }
  return items.includes("*") ? ["*"] : items.map((item) => (item.includes("/") ? item : `${item}/32`));
}

/** A comma-separated list of ports (or `*`). */
export function parsePorts(value: string, annotation: string, allowStar: boolean): string[] {
  const items = value.split(",").map((item) => item.trim()).filter((item) => item !== "");
  for (const item of items) {
    if (item === "*" && allowStar) continue;
    const port = Number(item);
    if (!/^\d+$/.test(item) || port < 1 || port > 65535) throw new Error(`annotation ${annotation}: "${item}" is not a port (1-65535)${allowStar ? " or *" : ""}`);
  }
  return items.includes("*") ? ["*"] : items;
}
