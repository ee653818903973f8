/**
 * A missing permission is visible, and an informer that fails recovers by itself: the operator
 * runs as a ServiceAccount bound to config/rbac's rules minus EndpointSlices; the EndpointSlice
 * watch is refused (403), logged with its retry delay, /readyz stays 503 and nothing is
 * published; once the missing rule is granted, the restarted watch lists, the operator becomes
 * ready and publishes.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump, loadAll } from "js-yaml";
import { installCrds } from "../../support/crds.js";
import { startControlPlane } from "../../support/control-plane.js";
import type { ControlPlane } from "../../support/control-plane.js";
import { freePort, waitFor } from "../../support/net.js";
import { repoRoot } from "../../support/paths.js";
import { operatorKubeconfig } from "./support/identity.js";
import { startOperator } from "./support/operator-process.js";
import type { OperatorProcess } from "./support/operator-process.js";

interface ClusterRole {
  kind: string;
  metadata: { name: string };
  rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
}

describe("operator permissions", () => {
  let controlPlane: ControlPlane;
  let work: string;
  let operator: OperatorProcess | undefined;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "pilotfish-operator-rbac-"));
    controlPlane = await startControlPlane();
    await installCrds(controlPlane);
    await operatorKubeconfig(controlPlane, work);
    await controlPlane.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway", "deployment.yaml")]);
  });

  after(async () => {
    await operator?.stop();
    await controlPlane?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("without EndpointSlices: refused watch logged and retried, not ready; granted: ready and published", async () => {
    // config/rbac's ClusterRole without the EndpointSlice rule, for a second ServiceAccount.
    const shipped = loadAll(readFileSync(join(repoRoot, "config", "rbac", "cluster-role.yaml"), "utf8")) as ClusterRole[];
    const role = shipped.find((doc) => doc.metadata.name === "pilotfish");
    assert.ok(role);
    const limited = { ...role, metadata: { name: "pilotfish-limited" }, rules: role.rules.filter((rule) => !rule.resources.includes("endpointslices")) };
    assert.equal(limited.rules.length, role.rules.length - 1);
    const subject = [{ kind: "ServiceAccount", name: "pilotfish-limited", namespace: "istio-system" }];
    await controlPlane.kubectlOk(["apply", "-f", "-"], {
      input: [
        { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "pilotfish-limited", namespace: "istio-system" } },
        { apiVersion: "rbac.authorization.k8s.io/v1", ...limited },
        { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: "pilotfish-limited" }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "pilotfish-limited" }, subjects: subject },
        { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: "pilotfish-limited-secrets" }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "pilotfish-secrets" }, subjects: subject },
      ].map((doc) => dump(doc)).join("---\n"),
    });
    const token = (await controlPlane.kubectlOk(["create", "token", "pilotfish-limited", "-n", "istio-system"])).trim();
    const kubeconfig = join(work, "limited.kubeconfig");
    const admin = readFileSync(controlPlane.kubeconfigPath, "utf8");
    writeFileSync(kubeconfig, admin.replace(/token: .*/, `token: ${token}`));

    operator = await startOperator({
      kubeconfig,
      proxyConfigDir: "/etc/pilotfish/proxy",
      proxyAdminPort: await freePort(),
      proxyStatusPort: await freePort(),
      waitReady: false,
      // This ServiceAccount is bound to the ClusterRoles only, not to the Lease's Role.
      extraArgs: ["--leader-elect=false"],
    });
    const refusals = await waitFor(() => {
      const lines = operator?.logs().filter((line) => line.resource === "endpointslices" && line.level === "warn") ?? [];
      return lines.length >= 2 ? lines : undefined;
    }, { timeoutMs: 30_000, what: "two logged EndpointSlice watch failures" });
    assert.match(refusals[0]?.message ?? "", /^watch of endpointslices failed, restarting in 500 ms: .*403/);
    assert.match(refusals[1]?.message ?? "", /^watch of endpointslices failed, restarting in 1000 ms: /);
    const notReady = await fetch(`${operator.healthUrl}/readyz`);
    assert.equal(notReady.status, 503);
    assert.match(await notReady.text(), /informers not synced yet/);
    assert.match(await operator.metrics(), /pilotfish_errors_total\{stage="informer"\} [2-9]/);
    const none = await controlPlane.kubectlOk(["get", "configmaps", "-n", "istio-system", "-l", "app.kubernetes.io/managed-by=pilotfish", "-o", "name"]);
    assert.equal(none.trim(), "", "nothing is published from an incomplete view");

    await controlPlane.kubectlOk(["create", "clusterrolebinding", "pilotfish-limited-full", "--clusterrole=pilotfish", "--serviceaccount=istio-system:pilotfish-limited"]);
    await waitFor(async () => ((await fetch(`${operator!.healthUrl}/readyz`)).status === 200 ? true : undefined), {
      timeoutMs: 60_000,
      what: "/readyz after the permission is granted",
    });
    const published = await controlPlane.kubectlOk(["get", "configmaps,secrets", "-n", "istio-system", "-l", "app.kubernetes.io/managed-by=pilotfish", "-o", "name"]);
    assert.deepEqual(published.trim().split("\n").sort(), [
      "configmap/pilotfish-istio-ingressgateway-cds",
      "configmap/pilotfish-istio-ingressgateway-eds",
      "configmap/pilotfish-istio-ingressgateway-lds",
      "configmap/pilotfish-istio-ingressgateway-rds",
      "secret/pilotfish-istio-ingressgateway-sds",
    ]);
    assert.equal(operator.process.exitStatus, undefined);
  });
});
