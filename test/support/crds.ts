import { join } from "node:path";
import type { ControlPlane } from "./control-plane.js";
import { waitFor } from "./net.js";
import { repoRoot } from "./paths.js";

/**
 * `kubectl apply -f config/crd` and wait until every CRD is Established. `kubectl wait` fails
 * outright ("accessor error: <nil>") when it reads a CRD whose status has no conditions yet,
 * which happens right after the apply: retry it until it succeeds.
 */
export async function installCrds(kube: Pick<ControlPlane, "kubectl" | "kubectlOk">): Promise<void> {
  await kube.kubectlOk(["apply", "-f", join(repoRoot, "config", "crd")]);
  let last = "";
  await waitFor(async () => {
    const result = await kube.kubectl(["wait", "--for=condition=Established", "crd", "--all", "--timeout=30s"]);
    last = result.stderr.trim();
    return result.code === 0;
  }, { timeoutMs: 90_000, intervalMs: 500, what: `the CRDs Established (last: ${last || "-"})` });
}
