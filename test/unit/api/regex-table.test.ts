/**
 * RE2 as Envoy runs it (issue 15): each pattern's verdict and full-match probes. The same table is
 * checked against a real Envoy in test/integration/api/regex-envoy.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { compileRe2, ENVOY_DEFAULT_MAX_PROGRAM_SIZE, ENVOY_MAX_PROGRAM_SIZE, re2FullMatch, regexProblem } from "../../../src/api/validation/regex.js";
import { validateResource } from "../../../src/api/validation/index.js";
import { regexCases } from "./regex-cases.js";

test(`the regex table has at least 40 patterns (${regexCases.length}), each once`, () => {
  assert.ok(regexCases.length >= 40);
  assert.equal(new Set(regexCases.map((c) => c.pattern)).size, regexCases.length);
});

for (const { pattern, valid, why, probes } of regexCases) {
  test(`${valid ? "accepts" : "refuses"} ${JSON.stringify(pattern)} (${why})`, () => {
    const problem = regexProblem(pattern);
    assert.equal(problem === undefined, valid, problem ?? "accepted");
    for (const [input, expected] of probes ?? []) assert.equal(re2FullMatch(pattern, input), expected, `${JSON.stringify(input)}`);
  });
}

test("route regexes match the whole path, not a substring", () => {
  assert.equal(re2FullMatch("/api", "/api/v1"), false);
  assert.equal(re2FullMatch("/api.*", "/api/v1"), true);
  assert.equal(re2FullMatch("(a", "a"), undefined);
});

test("the program-size limit is Istio's runtime value (32768), Envoy's default 100 can still be asked for", () => {
  assert.equal(ENVOY_MAX_PROGRAM_SIZE, 32768);
  assert.equal(regexProblem("a{1000}"), undefined);
  assert.notEqual(regexProblem("a{1000}", ENVOY_DEFAULT_MAX_PROGRAM_SIZE), undefined);
  const compiled = compileRe2("[a-z]{50}");
  assert.ok(!("error" in compiled) && compiled.programSize >= 54, "the estimate is never below Envoy's 54");
});

test("every regex field Istio validates goes through RE2", () => {
  const bad = "(?=x)";
  const resource = {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "r", namespace: "default" },
    spec: {
      hosts: ["a.example.com"],
      gateways: ["gw"],
      http: [
        {
          match: [{ uri: { regex: bad }, authority: { regex: bad }, headers: { "x-a": { regex: bad } }, withoutHeaders: { "x-b": { regex: bad } }, queryParams: { q: { regex: bad } }, scheme: { regex: bad }, method: { regex: bad } }],
          rewrite: { uriRegexRewrite: { match: bad, rewrite: "/" } },
          corsPolicy: { allowOrigins: [{ regex: bad }] },
          route: [{ destination: { host: "a" } }],
        },
      ],
    },
  };
  const paths = validateResource(resource).filter((f) => f.severity === "error").map((f) => f.path).sort();
  assert.deepEqual(paths, [
    "spec.http[0].corsPolicy.allowOrigins[0].regex",
    "spec.http[0].match[0].authority.regex",
    "spec.http[0].match[0].headers.x-a.regex",
    "spec.http[0].match[0].method.regex",
    "spec.http[0].match[0].queryParams.q.regex",
    "spec.http[0].match[0].scheme.regex",
    "spec.http[0].match[0].uri.regex",
    "spec.http[0].match[0].withoutHeaders.x-b.regex",
    "spec.http[0].rewrite.uriRegexRewrite.match",
  ]);
});
