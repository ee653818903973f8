/**
 * Issue 15's proof: every pattern of the RE2 table (test/unit/api/regex-cases.ts) in a route's
 * `safe_regex` under `envoy --mode validate` with Istio's runtime (re2.max_program_size.error_level 32768, as
 * pilotfish's bootstraps set it), and
 * Envoy's verdict equals pilotfish's, except the few marked cases where pilotfish refuses what
 * Envoy accepts (Istio refuses it, or the program-size estimate errs on the safe side). A seeded set of generated patterns then checks the safety
 * direction: whatever pilotfish accepts, Envoy accepts.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { regexProblem } from "../../../src/api/validation/regex.js";
import { istioRuntimeLayers } from "../../../src/envoy/bootstrap.js";
import { validateEnvoyConfig } from "../../support/envoy.js";
import { regexCases } from "../../unit/api/regex-cases.js";

function routeBootstrap(pattern: string): Record<string, unknown> {
  const manager = {
    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    stat_prefix: "regex",
    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
    route_config: {
      name: "regex",
      virtual_hosts: [{ name: "regex", domains: ["*"], routes: [{ match: { safe_regex: { regex: pattern } }, direct_response: { status: 200 } }] }],
    },
  };
  return {
    layered_runtime: { layers: istioRuntimeLayers() },
    static_resources: {
      listeners: [
        {
          name: "regex",
          address: { socket_address: { address: "127.0.0.1", port_value: 10000 } },
          filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: manager }] }],
        },
      ],
    },
  };
}

describe("RE2 table against envoy --mode validate", () => {
  for (const { pattern, valid, envoy, why } of regexCases) {
    const envoyAccepts = envoy ?? valid;
    test(`${JSON.stringify(pattern)}: Envoy ${envoyAccepts ? "accepts" : "refuses"}, pilotfish ${valid ? "accepts" : "refuses"} (${why})`, async () => {
      assert.equal(regexProblem(pattern) === undefined, valid, "pilotfish's verdict");
      const result = await validateEnvoyConfig(routeBootstrap(pattern));
      assert.equal(result.ok, envoyAccepts, result.output);
    });
  }
});

/** Small seeded generator of RE2 patterns around the features the table covers. */
function generatedPatterns(count: number, seed: number): string[] {
  const atoms = ["a", ".", "[a-z]", "[^/]", "\\d", "\\w", "\\pN", "(?i)x", "é", "[[:alpha:]]", "\\b", "$", "/", "\\.", "\\C", "\\x{41}", "[0-9a-f]"];
  const operators = ["", "", "*", "+", "?", "{2}", "{1,4}", "*?", "{3,}", "{12}"];
  let state = seed;
  const next = (n: number) => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % n;
  };
  const sequence = (depth: number): string => {
    let out = "";
    for (let index = 0, length = 1 + next(6); index < length; index++) {
      const atom = depth > 0 && next(4) === 0 ? `(${sequence(depth - 1)}|${sequence(depth - 1)})` : (atoms[next(atoms.length)] ?? "a");
      out += atom + (operators[next(operators.length)] ?? "");
    }
    return out;
  };
  return Array.from({ length: count }, () => sequence(2));
}

describe("generated patterns: what pilotfish accepts, Envoy accepts", () => {
  for (const pattern of generatedPatterns(40, 15)) {
    test(JSON.stringify(pattern), async () => {
      const accepted = regexProblem(pattern) === undefined;
      const result = await validateEnvoyConfig(routeBootstrap(pattern));
      if (accepted) assert.ok(result.ok, result.output);
    });
  }
});
