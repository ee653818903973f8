/**
 * The gateway bootstrap (`envoy.yaml` in -lds) passes `envoy --mode validate` as the pod would
 * load it (default config dir and ports), and a real Envoy answers the readiness route through
 * its admin: 503 nowhere, 200 LIVE once initialised, 404 for other paths on the status port.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gatewayBootstrap, gatewayBootstrapYaml } from "../../../src/publish/bootstrap.js";
import { validateEnvoyConfig } from "../../support/envoy.js";
import { freePort } from "../../support/net.js";
import { startGatewayEnvoy } from "./support/gateway-envoy.js";
import { ProjectedVolume } from "./support/projected-volume.js";
import type { GatewayEnvoy } from "./support/gateway-envoy.js";

describe("gateway bootstrap", () => {
  let envoy: GatewayEnvoy | undefined;
  const dir = mkdtempSync(join(tmpdir(), "pilotfish-bootstrap-"));
  after(async () => {
    await envoy?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  // The pod's volume is kubelet's layout (..data swapped atomically); the bootstrap reads through it.
  const volume = new ProjectedVolume(dir);

  test("envoy --mode validate accepts the bootstrap with the pod's ports; lds.yaml and cds.yaml must exist", async () => {
    const bootstrap = gatewayBootstrapYaml({ configDir: dir, adminPort: 15000, statusPort: 15021, proxyName: "istio-ingressgateway", proxyNamespace: "istio-system" });
    volume.sync({ "envoy.yaml": bootstrap });
    // Envoy refuses to start when a path_config_source file is missing, which is why the pod's
    // projected volume is `optional: false`: the pod waits for the published objects.
    const missing = await validateEnvoyConfig(join(dir, "envoy.yaml"));
    assert.equal(missing.ok, false);
    assert.match(missing.output, /paths must refer to an existing path in the system: '.*\/\.\.data\/cds\.yaml' does not exist/);
    volume.sync({ "envoy.yaml": bootstrap, "lds.yaml": "resources: []\n", "cds.yaml": "resources: []\n" });
    const result = await validateEnvoyConfig(join(dir, "envoy.yaml"));
    assert.ok(result.ok, result.output);
  });

  test("a real Envoy on an empty layout is ready and answers /healthz/ready on the status port", async () => {
    const adminPort = await freePort();
    const statusPort = await freePort();
    volume.sync({ "envoy.yaml": gatewayBootstrapYaml({ configDir: dir, adminPort, statusPort, proxyName: "gw", proxyNamespace: "ns" }), "lds.yaml": "resources: []\n", "cds.yaml": "resources: []\n" });
    envoy = await startGatewayEnvoy({ configDir: dir, adminPort, statusPort });
    assert.equal(await envoy.readiness(), 200);
    assert.equal((await fetch(`http://127.0.0.1:${statusPort}/ready`)).status, 404, "only the readiness path is exposed, not admin");
    assert.equal((await fetch(`http://127.0.0.1:${statusPort}/healthz/ready`)).headers.get("server"), "envoy");
    assert.ok(JSON.stringify(gatewayBootstrap({ configDir: dir, adminPort, statusPort, proxyName: "gw", proxyNamespace: "ns" })).includes('"address":"127.0.0.1"'));
  });
});
