import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Where scripts/testenv.sh installed the bench; the same rule as the script. */
export function benchDir(): string {
  const explicit = process.env.PILOTFISH_BENCH_DIR;
  if (explicit) return explicit;
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(cache, "pilotfish-bench");
}

/** Absolute path of a bench tool (scripts/testenv.sh installs them). */
export function benchTool(name: "kube-apiserver" | "etcd" | "envoy" | "helm" | "kubectl" | "ctr" | "hadolint"): string {
  const path = join(benchDir(), "bin", name);
  if (!existsSync(path)) {
    throw new Error(`${name} is not installed at ${path}: run 'make testenv' first`);
  }
  return path;
}
