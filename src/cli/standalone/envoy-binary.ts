/**
 * Which Envoy `pilotfish run` starts: `--envoy PATH`, else $ENVOY, else the test bench's
 * (`make testenv` installs it in ${PILOTFISH_BENCH_DIR:-${XDG_CACHE_HOME:-~/.cache}/pilotfish-bench}/bin),
 * else `envoy` from PATH.
 */
import { accessSync, constants, existsSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";

export function benchEnvoyPath(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(env.PILOTFISH_BENCH_DIR || join(cache, "pilotfish-bench"), "bin", "envoy");
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The Envoy binary to run, or an error saying how to get one. */
export function findEnvoy(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const named = explicit ?? (env.ENVOY || undefined);
  if (named !== undefined) {
    if (!existsSync(named)) throw new Error(`Envoy not found at ${named}: pass --envoy with the path of an envoy binary`);
    if (!executable(named)) throw new Error(`${named} is not executable: chmod +x it or pass another --envoy`);
    return named;
  }
  const bench = benchEnvoyPath(env);
  if (executable(bench)) return bench;
  for (const folder of (env.PATH ?? "").split(delimiter)) {
    if (folder !== "" && executable(join(folder, "envoy"))) return join(folder, "envoy");
  }
  throw new Error(`no Envoy found (looked at ${bench} and PATH): run 'make testenv' to install the bench's Envoy, or pass --envoy PATH`);
}
