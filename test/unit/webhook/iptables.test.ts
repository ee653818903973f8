import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { captureRules, defaultCapture, istioIptablesArgs, parseCidrs, parsePorts } from "../../../src/webhook/inject/iptables.js";

describe("capture rules (istio-iptables equivalent)", () => {
  it("gives the seed's istio-iptables arguments for the defaults", () => {
    assert.deepEqual(istioIptablesArgs(defaultCapture), ["-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020"]);
  });

  it("writes Istio's nat table for -p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x '' -b '*' -d 15090,15021,15020", () => {
    assert.equal(
      captureRules(defaultCapture),
      [
        "*nat",
        ":ISTIO_INBOUND - [0:0]",
        ":ISTIO_IN_REDIRECT - [0:0]",
        ":ISTIO_OUTPUT - [0:0]",
        ":ISTIO_REDIRECT - [0:0]",
        "-A PREROUTING -p tcp -j ISTIO_INBOUND",
        "-A OUTPUT -p tcp -j ISTIO_OUTPUT",
        "-A ISTIO_INBOUND -p tcp -m tcp --dport 15090 -j RETURN",
        "-A ISTIO_INBOUND -p tcp -m tcp --dport 15021 -j RETURN",
        "-A ISTIO_INBOUND -p tcp -m tcp --dport 15020 -j RETURN",
        "-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT",
        "-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006",
        "-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN",
        "-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -p tcp -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT",
        "-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN",
        "-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN",
        "-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -p tcp -m owner --gid-owner 1337 -j ISTIO_IN_REDIRECT",
        "-A ISTIO_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN",
        "-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN",
        "-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN",
        "-A ISTIO_OUTPUT -j ISTIO_REDIRECT",
        "-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001",
        "COMMIT",
        "",
      ].join("\n"),
    );
  });

  it("captures only the listed outbound ranges, never the excluded ones, and skips excluded outbound ports", () => {
    const rules = captureRules({ ...defaultCapture, includeOutboundIpRanges: ["198.18.0.0/24"], excludeOutboundIpRanges: ["198.18.0.10/32"], excludeOutboundPorts: [5432] }).split("\n");
    const output = rules.filter((rule) => rule.startsWith("-A ISTIO_OUTPUT"));
    assert.equal(output[0], "-A ISTIO_OUTPUT -p tcp -m tcp --dport 5432 -j RETURN");
    assert.deepEqual(output.slice(-3), ["-A ISTIO_OUTPUT -d 198.18.0.10/32 -j RETURN", "-A ISTIO_OUTPUT -d 198.18.0.0/24 -j ISTIO_REDIRECT", "-A ISTIO_OUTPUT -j RETURN"]);
    assert.ok(!rules.includes("-A ISTIO_OUTPUT -j ISTIO_REDIRECT"));
  });

  it("captures only the listed inbound ports with -b 8080,9090; none with -b ''", () => {
    const listed = captureRules({ ...defaultCapture, includeInboundPorts: ["8080", "9090"] }).split("\n").filter((rule) => rule.includes("ISTIO_INBOUND"));
    assert.deepEqual(listed, [":ISTIO_INBOUND - [0:0]", "-A PREROUTING -p tcp -j ISTIO_INBOUND", "-A ISTIO_INBOUND -p tcp -m tcp --dport 8080 -j ISTIO_IN_REDIRECT", "-A ISTIO_INBOUND -p tcp -m tcp --dport 9090 -j ISTIO_IN_REDIRECT"]);
    const none = captureRules({ ...defaultCapture, includeInboundPorts: [] });
    assert.doesNotMatch(none, /PREROUTING/);
  });

  it("parses annotation lists and refuses what is not a CIDR or a port", () => {
    assert.deepEqual(parseCidrs("198.18.0.0/24, 198.19.1.1", "a", false), ["198.18.0.0/24", "198.19.1.1/32"]);
    assert.deepEqual(parseCidrs("*", "a", true), ["*"]);
    assert.deepEqual(parseCidrs("", "a", true), []);
    assert.throws(() => parseCidrs("198.18.0.0/33", "traffic.sidecar.istio.io/excludeOutboundIPRanges", false), /excludeOutboundIPRanges: "198.18.0.0\/33" is not an IPv4 CIDR/);
    assert.throws(() => parseCidrs("*", "a", false), /is not an IPv4 CIDR/);
    assert.deepEqual(parsePorts("8080,9090", "p", true), ["8080", "9090"]);
    assert.throws(() => parsePorts("0", "p", false), /"0" is not a port/);
    assert.throws(() => parsePorts("http", "p", false), /"http" is not a port/);
  });
});
