/**
 * The operator's identity in tests: the ServiceAccount and rules of config/rbac, applied as
 * shipped, and a kubeconfig holding a token the apiserver issued for that ServiceAccount — so
 * the operator has exactly the permissions config/rbac grants, not the harness's admin.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { dump, load } from "js-yaml";
import { repoRoot } from "../../../support/paths.js";

export const operatorUser = "system:serviceaccount:istio-system:pilotfish";

/** What the function needs of a harness: the apiserver-only ControlPlane and the node Cluster both fit. */
export interface AdminAccess {
  kubeconfigPath: string;
  kubectlOk(args: readonly string[], options?: { input?: string }): Promise<string>;
}

export async function operatorKubeconfig(controlPlane: AdminAccess, dir: string): Promise<string> {
  await controlPlane.kubectlOk(["apply", "-f", join(repoRoot, "config", "rbac")]);
  const token = (await controlPlane.kubectlOk(["create", "token", "pilotfish", "-n", "istio-system", "--duration=6h"])).trim();
  const admin = load(readFileSync(controlPlane.kubeconfigPath, "utf8")) as {
    clusters: { name: string; cluster: Record<string, string> }[];
  };
  const cluster = admin.clusters[0];
  if (!cluster) throw new Error("the harness kubeconfig has no cluster");
  const path = join(dir, "pilotfish-operator.kubeconfig");
  writeFileSync(
    path,
    dump({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "bench", cluster: cluster.cluster }],
      users: [{ name: "pilotfish", user: { token } }],
      contexts: [{ name: "pilotfish", context: { cluster: "bench", user: "pilotfish" } }],
      "current-context": "pilotfish",
    }),
  );
  return path;
}
