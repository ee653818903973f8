/**
 * `pilotfish completion bash|zsh`: the bash script sources cleanly in a real bash, registers the
 * completion, and completes verbs, flags, proxy-config kinds and flag values; it follows the
 * command tree (every verb buildProgram() registers is completed).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildProgram } from "../../../src/cli/program.js";
import { bashCompletion } from "../../../src/cli/completion.js";
import { runCli } from "../../support/cli.js";

/** COMPREPLY for the words typed so far (the last one is being completed), from a real bash. */
function complete(script: string, words: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), "pilotfish-completion-"));
  try {
    const file = join(dir, "pilotfish.bash");
    writeFileSync(file, script);
    const array = words.map((word) => `'${word}'`).join(" ");
    const out = execFileSync("bash", ["--norc", "--noprofile", "-c", `source '${file}' && COMP_WORDS=(${array}) && COMP_CWORD=${words.length - 1} && _pilotfish && printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: "utf8", cwd: dir });
    return out.split("\n").filter((line) => line !== "");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("pilotfish completion", () => {
  const script = bashCompletion(buildProgram());

  test("the bash script sources without a word on stderr and registers the completion", () => {
    const dir = mkdtempSync(join(tmpdir(), "pilotfish-completion-"));
    try {
      const file = join(dir, "pilotfish.bash");
      writeFileSync(file, script);
      const result = spawnSync("bash", ["--norc", "--noprofile", "-c", `source '${file}' && complete -p pilotfish`], { encoding: "utf8" });
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stderr, "");
      assert.equal(result.stdout.trim(), "complete -F _pilotfish pilotfish");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("verbs: every registered verb, filtered by the prefix", () => {
    const verbs = buildProgram().commands.map((command) => command.name()).sort();
    assert.deepEqual(complete(script, ["pilotfish", ""]).filter((word) => !word.startsWith("-")).sort(), verbs);
    assert.deepEqual(complete(script, ["pilotfish", "proxy-"]), ["proxy-config", "proxy-status"]);
  });

  test("flags, kinds and flag values", () => {
    assert.deepEqual(complete(script, ["pilotfish", "proxy-config", "r"]), ["routes"]);
    assert.ok(complete(script, ["pilotfish", "explain", "--h"]).includes("--host"));
    assert.deepEqual(complete(script, ["pilotfish", "explain", "--host", "a", "--scheme", ""]), ["http", "https"]);
    assert.deepEqual(complete(script, ["pilotfish", "proxy-status", "-o", "y"]), ["yaml"]);
  });

  test("as a process: bash and zsh scripts, an unknown shell exits 1", async () => {
    const run = (shell: string) => runCli(["completion", shell]);
    const bash = await run("bash");
    assert.equal(bash.code, 0, bash.stderr);
    assert.equal(bash.stdout, script);
    const fish = await run("fish");
    assert.equal(fish.code, 1);
    assert.match(fish.stderr, /unknown shell fish: expected bash or zsh/);
  });
});
