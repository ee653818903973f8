import { test } from "node:test";
import assert from "node:assert/strict";
import { goldenCases } from "../../golden/cases.js";
import { staticBootstrap } from "../../../src/envoy/bootstrap.js";
import { validateEnvoyConfig } from "../../support/envoy.js";

// `envoy --mode validate` checks only the bootstrap, so each golden config is inlined statically
// (RDS as route_config, EDS as load_assignment, SDS as static secrets) — the same JSON the files
// carry, parsed by the real Envoy.
for (const golden of goldenCases()) {
  test(`envoy --mode validate accepts golden ${golden.name}`, { skip: golden.skip }, async () => {
    const result = golden.compile();
    const validation = await validateEnvoyConfig(staticBootstrap(result.resources, { adminPort: 0 }));
    assert.ok(validation.ok, validation.output);
  });
}
