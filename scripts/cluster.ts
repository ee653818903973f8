/**
 * `make cluster` / `make cluster-down`: the bench's single node for a person to use.
 *   tsx scripts/cluster.ts up [DIR]     build/import the images, start the node, print how to use it
 *   tsx scripts/cluster.ts down [DIR]   stop it and undo its host changes
 * DIR defaults to $PILOTFISH_CLUSTER_DIR, else /tmp/pilotfish-cluster.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { benchDir, repoRoot } from "../test/support/paths.js";
import { buildImages } from "./images/build.js";

const [command, dirArgument] = process.argv.slice(2);
const dir = dirArgument ?? process.env.PILOTFISH_CLUSTER_DIR ?? "/tmp/pilotfish-cluster";
const nodeScript = join(repoRoot, "scripts", "node.sh");

if (command === "up") {
  if (existsSync(join(dir, "kubeconfig"))) {
    process.stderr.write(`a node is already running in ${dir}: 'make cluster-down' first\n`);
    process.exit(1);
  }
  // The operator image too, so `helm install charts/pilotfish` (docs/install.md) runs it on this node.
  const images = buildImages(["pause", "proxy", "test-upstream", "proxy-init", "operator"], benchDir());
  for (const image of images) process.stderr.write(`[images] ${image.reference} ${image.cached ? "(cached)" : "(built)"}\n`);
  execFileSync("bash", [nodeScript, "up", dir, ...images.map((image) => image.tarball)], { stdio: "inherit" });
  process.stdout.write(
    [
      "",
      "The node is up. In your shell:",
      `  export KUBECONFIG=${join(dir, "kubeconfig")}`,
      `  export PILOTFISH_CLUSTER_DIR=${dir}   # test/e2e files then reuse this node`,
      `  ${join(benchDir(), "bin", "kubectl")} get nodes`,
      "Images (imagePullPolicy IfNotPresent; nothing can be pulled):",
      ...images.map((image) => `  ${image.reference}`),
      "NodePorts answer on 198.19.127.1. Stop it with 'make cluster-down'.",
      "",
    ].join("\n"),
  );
} else if (command === "down") {
  execFileSync("bash", [nodeScript, "down", dir], { stdio: "inherit" });
} else {
  process.stderr.write("usage: tsx scripts/cluster.ts up|down [DIR]\n");
  process.exit(2);
}
