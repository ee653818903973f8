/**
 * `make e2e`: every test/e2e file (or the files named) on ONE node, brought up once with every
 * image and brought down at the end, also on failure or Ctrl-C; a node takes 10–30 s to start and
 * as long to stop, per file before this.
 *   tsx scripts/e2e.ts [FILE...]
 * Each file runs in its own `node --test` process with PILOTFISH_CLUSTER_DIR naming the node, so
 * its startCluster() reuses it. Between files the node is reset (test/support/cluster.ts
 * resetCluster): whatever the file left (namespaces, CRDs, RBAC, webhook configurations...) is
 * deleted and the namespaces waited for, and the leftovers are printed: a file must delete what it
 * creates in after() (it then works alone and on a `make cluster` node too); the reset is the
 * safety net that keeps one file's leftovers from failing the next.
 * With PILOTFISH_CLUSTER_DIR already set, the files run on that node and it is left running.
 */
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import type { ImageName } from "./images/specs.js";
import { resetCluster, resettableObjects, startCluster } from "../test/support/cluster.js";
import { repoRoot } from "../test/support/paths.js";
import { cleanupAtExit } from "../test/support/processes.js";

const everyImage: ImageName[] = ["proxy", "test-upstream", "proxy-init", "operator"];

const requested = process.argv.slice(2);
const e2eDir = join(repoRoot, "test", "e2e");
const files = requested.length > 0 ? requested : readdirSync(e2eDir).filter((name) => name.endsWith(".test.ts")).sort().map((name) => join(e2eDir, name));

interface FileResult {
  file: string;
  seconds: number;
  resetSeconds: number;
  passed: boolean;
  leftovers: string[];
}

function runTestFile(file: string, clusterDir: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", file], {
      cwd: repoRoot,
      stdio: "inherit",
      env: { ...process.env, PILOTFISH_CLUSTER_DIR: clusterDir },
    });
    // Ctrl-C reaches the file through the process group; a SIGTERM to this runner alone must not
    // leave the file running on a node that is being stopped.
    const forget = cleanupAtExit(() => child.kill("SIGTERM"));
    child.on("error", () => resolve(false));
    child.on("exit", (code) => {
      forget();
      resolve(code === 0);
    });
  });
}

const seconds = (since: number): number => (Date.now() - since) / 1000;

const started = Date.now();
const cluster = await startCluster({ images: everyImage });
process.stderr.write(`[e2e] one node for ${files.length} files: ${cluster.dir} (up in ${(cluster.startupMs / 1000).toFixed(1)} s)\n`);
const results: FileResult[] = [];
try {
  const baseline = await resettableObjects(cluster);
  for (const file of files) {
    const fileStarted = Date.now();
    process.stdout.write(`\n[e2e] ${relative(repoRoot, file)}\n`);
    const passed = await runTestFile(file, cluster.dir);
    const ran = seconds(fileStarted);
    const resetStarted = Date.now();
    const leftovers = await resetCluster(cluster, baseline);
    if (leftovers.length > 0) process.stdout.write(`[e2e] ${relative(repoRoot, file)} left ${leftovers.length} objects on the node (deleted): ${leftovers.join(" ")}\n`);
    results.push({ file: relative(repoRoot, file), seconds: ran, resetSeconds: seconds(resetStarted), passed, leftovers });
  }
} finally {
  const stopping = Date.now();
  await cluster.stop();
  process.stderr.write(`[e2e] node down in ${seconds(stopping).toFixed(1)} s\n`);
}

process.stdout.write(`\n# e2e files by duration (one node: up ${(cluster.startupMs / 1000).toFixed(1)} s; ${seconds(started).toFixed(1)} s in all)\n`);
for (const result of [...results].sort((a, b) => b.seconds - a.seconds)) {
  process.stdout.write(`# ${result.seconds.toFixed(1).padStart(8)} s  ${result.file}  (reset ${result.resetSeconds.toFixed(1)} s${result.leftovers.length > 0 ? `, ${result.leftovers.length} leftovers` : ""})${result.passed ? "" : "  FAILED"}\n`);
}
const failed = results.filter((result) => !result.passed);
if (failed.length > 0) {
  process.stdout.write(`[e2e] ${failed.length} of ${results.length} files failed: ${failed.map((result) => result.file).join(", ")}\n`);
  process.exitCode = 1;
}
