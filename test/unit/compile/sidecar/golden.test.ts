/**
 * compileSidecar golden cases: `cases/<case>/in.yaml` (manifests) + `proxy.json` (the
 * SidecarProxy) → `out.<kind>.json` (+ `diagnostics.json`), regenerated with UPDATE_GOLDEN=1;
 * every case's config passes `envoy --mode validate` (everything inlined).
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { compileSidecar } from "../../../../src/compile/sidecar/compile.js";
import type { SidecarProxy } from "../../../../src/compile/sidecar/compile.js";
import { staticBootstrap } from "../../../../src/envoy/bootstrap.js";
import { parseManifests } from "../../../../src/model/manifests.js";
import { buildSnapshot } from "../../../../src/model/snapshot.js";
import { goldenFiles, isGoldenOutput } from "../../../golden/cases.js";
import { validateEnvoyConfig } from "../../../support/envoy.js";

const casesDir = join(dirname(fileURLToPath(import.meta.url)), "cases");

for (const name of readdirSync(casesDir).sort()) {
  const dir = join(casesDir, name);
  const compile = () => {
    const { inputs } = parseManifests([readFileSync(join(dir, "in.yaml"), "utf8")]);
    const proxy = JSON.parse(readFileSync(join(dir, "proxy.json"), "utf8")) as SidecarProxy;
    return compileSidecar(buildSnapshot(inputs), proxy, inputs.services);
  };

  describe(`sidecar golden ${name}`, () => {
    it("matches the golden files", () => {
      const expected = goldenFiles(compile());
      if (process.env.UPDATE_GOLDEN === "1") {
        for (const file of readdirSync(dir)) if (isGoldenOutput(file) && !expected.has(file)) unlinkSync(join(dir, file));
        for (const [file, text] of expected) writeFileSync(join(dir, file), text);
      }
      const present = readdirSync(dir).filter(isGoldenOutput).sort();
      assert.deepEqual(present, [...expected.keys()].sort(), "golden files present");
      for (const [file, text] of expected) assert.equal(readFileSync(join(dir, file), "utf8"), text, `${name}/${file} (UPDATE_GOLDEN=1 regenerates)`);
    });

    it("passes envoy --mode validate", async () => {
      const result = compile();
      const bootstrap = staticBootstrap(result.resources, { adminPort: 15000, nodeId: "sidecar~198.19.128.9~client.mesh~mesh.svc.cluster.local", nodeCluster: "client.mesh" });
      const validated = await validateEnvoyConfig(bootstrap);
      assert.ok(validated.ok, validated.output);
      assert.ok(existsSync(join(dir, "out.listeners.json")));
    });
  });
}
