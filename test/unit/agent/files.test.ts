/**
 * The agent's durable record: the published file layout read back gives exactly the compiled
 * resources (config sources pointing at ADS again), over every golden case, whether the folder
 * is a kubelet volume (`..data`) or not; a folder that is not a published config is refused.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { resourcesFromFiles } from "../../../src/agent/files.js";
import { workloadOfPod } from "../../../src/cli/commands/agent.js";
import { xdsProxyAddress } from "../../../src/cli/commands/operator.js";
import { fileLayout, kubeletDataLink } from "../../../src/envoy/layout.js";
import { gatewayBootstrap } from "../../../src/publish/bootstrap.js";
import { goldenCases } from "../../golden/cases.js";

for (const golden of goldenCases()) {
  test(`golden ${golden.name}: the file layout read back is the compiled config`, { skip: golden.skip }, () => {
    const { resources } = golden.compile();
    for (const dataLink of [undefined, kubeletDataLink]) {
      const files = new Map(fileLayout(resources, "/etc/pilotfish/proxy", dataLink).map((file) => [file.name, file.content]));
      files.set("envoy.yaml", "not: a resource file\n");
      assert.deepEqual(resourcesFromFiles(files), resources);
    }
  });
}

test("a folder without lds.yaml and cds.yaml is not served", () => {
  assert.throws(() => resourcesFromFiles(new Map([["lds.yaml", "resources: []\n"]])), /lds\.yaml and cds\.yaml are required/);
  assert.throws(() => resourcesFromFiles(new Map([["lds.yaml", "resources: [1]\n"], ["cds.yaml", "resources: []\n"]])), /lds\.yaml: resources\[0\] is not an object/);
});

test("agent and ads bootstraps: ADS (Delta) over the agent's socket or to the operator; the node names the Deployment", () => {
  const common = { configDir: "/etc/pilotfish/proxy", adminPort: 15000, statusPort: 15021, proxyName: "istio-ingressgateway", proxyNamespace: "istio-system" };
  const agent = gatewayBootstrap({ ...common, mode: "agent", agentSocket: "/var/run/pilotfish/agent.sock" });
  const text = JSON.stringify(agent);
  assert.match(text, /"pipe":\{"path":"\/var\/run\/pilotfish\/agent.sock"\}/);
  assert.match(text, /"api_type":"DELTA_GRPC"/);
  assert.doesNotMatch(text, /path_config_source/, "no file subscription in agent mode");
  assert.deepEqual((agent.node as { metadata: unknown }).metadata, { NAMESPACE: "istio-system", WORKLOAD_NAME: "istio-ingressgateway" });
  const ads = JSON.stringify(gatewayBootstrap({ ...common, mode: "ads", xdsAddress: "pilotfish.istio-system.svc:15010" }));
  assert.match(ads, /"type":"STRICT_DNS".*"address":"pilotfish.istio-system.svc","port_value":15010/);
  assert.match(JSON.stringify(gatewayBootstrap({ ...common, mode: "ads", xdsAddress: "198.19.127.1:15010" })), /"type":"STATIC".*"address":"198.19.127.1","port_value":15010/);
  assert.throws(() => gatewayBootstrap({ ...common, mode: "ads" }), /--xds-proxy-address/);
  assert.match(JSON.stringify(gatewayBootstrap(common)), /path_config_source/, "files mode stays the default");
});

test("the workload name of a Deployment's pod", () => {
  assert.equal(workloadOfPod("istio-ingressgateway-5d8f7c9b4-x2kqv"), "istio-ingressgateway");
  assert.equal(workloadOfPod("gateway"), "gateway");
});

test("the operator's ADS as gateway pods reach it (ads mode)", () => {
  assert.equal(xdsProxyAddress(":15010", "istio-system"), "pilotfish.istio-system.svc:15010");
  assert.equal(xdsProxyAddress("0.0.0.0:15010", "pf"), "pilotfish.pf.svc:15010");
  assert.equal(xdsProxyAddress("198.19.127.1:15010", "istio-system"), "198.19.127.1:15010");
  assert.equal(xdsProxyAddress("off", "istio-system"), undefined);
});
