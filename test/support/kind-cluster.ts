/**
 * The `Cluster` of `make e2e-kind` (scripts/e2e-kind.sh): a kind cluster the script created, its
 * images built from images/{name}/Dockerfile and loaded with `kind load docker-image`. Everything
 * but the bring-up is shared with the bench's node: the same scenario files, the same helm
 * install, the same assertions. The script writes the kubeconfig and the node's address into
 * PILOTFISH_KIND_DIR and deletes the cluster at the end, so stop() leaves it alone.
 *
 * Not run on the machine this was written on (no Docker): see test/e2e/README.md.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { imageSpecs } from "../../scripts/images/specs.js";
import type { ImageName } from "../../scripts/images/specs.js";
import type { Cluster } from "./cluster.js";
import { kubeAccess } from "./control-plane.js";

export const kindProvider = "kind";

export function kindCluster(names: readonly ImageName[]): Cluster {
  const dir = process.env.PILOTFISH_KIND_DIR;
  if (!dir || !existsSync(join(dir, "kubeconfig"))) throw new Error(`PILOTFISH_CLUSTER_PROVIDER=kind needs PILOTFISH_KIND_DIR with the kind cluster's kubeconfig (scripts/e2e-kind.sh writes it); got ${dir ?? "nothing"}`);
  const node = readFileSync(join(dir, "node-name"), "utf8").trim();
  // kind load keeps Docker's names: docker.io/<repository>:<tag>, as the bench's node names them.
  const images = Object.fromEntries(names.map((name) => [name, `docker.io/${imageSpecs[name].reference}`])) as Partial<Record<ImageName, string>>;
  const journal = (unit: string): string => {
    try {
      return execFileSync("docker", ["exec", node, "journalctl", "-u", unit, "--no-pager", "-n", "200"], { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
    } catch (error) {
      return `(no ${unit} log: ${(error as Error).message})`;
    }
  };
  return {
    dir,
    nodeIp: readFileSync(join(dir, "node-ip"), "utf8").trim(),
    startupMs: 0,
    images,
    ...kubeAccess(join(dir, "kubeconfig")),
    logs: (component) => (component ? journal(component) : ["kubelet", "containerd"].map(journal).join("\n")),
    stop: async () => undefined,
  };
}
