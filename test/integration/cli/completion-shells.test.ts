/**
 * `pilotfish completion zsh` in a real zsh: the script loads after compinit without a word on
 * stderr, and pressing TAB in an interactive zsh (driven through zsh's own pseudo-terminal
 * module, zpty) offers what the command tree says. The capture wraps zsh's `compadd` builtin,
 * so what is checked is exactly the list zsh's completion system was given. zsh comes from the
 * bench (scripts/testenv.sh installs it).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../support/cli.js";

/**
 * Types LINE then TAB into an interactive `zsh -f` that loaded SCRIPT, and prints each match
 * zsh's completion offered, one per line. comppostfuncs runs after the completion widget and
 * marks the end, so nothing waits on a timer.
 */
const captureScript = String.raw`
zmodload zsh/zpty
zpty pf zsh -f -i
zpty -w pf "PROMPT=''"
zpty -w pf "autoload -U compinit && compinit -u"
zpty -w pf "source ${"$"}{(q)1}"
zpty -w pf 'compadd() { typeset -a __hits; builtin compadd -A __hits "$@"; local h; for h in $__hits; do print -r -- "<""hit>$h"; done; builtin compadd "$@"; }'
zpty -w pf 'pf_done() { print -r -- "<""done>"; exit; }; comppostfuncs=(pf_done)'
zpty -w pf 'print -r -- "<""ready>"'
local line
while zpty -r pf line; do [[ $line == *'<ready>'* ]] && break; done
zpty -w -n pf "$2"$'\t'
while zpty -r pf line; do
  [[ $line == *'<done>'* ]] && break
  [[ $line == *'<hit>'* ]] && print -r -- ${"$"}{${"$"}{line#*<hit>}%%$'\r'*}
done
`;

describe("pilotfish completion zsh, in a real zsh", () => {
  let dir = "";
  let script = "";
  let capture = "";

  before(async () => {
    const zsh = spawnSync("zsh", ["--version"], { encoding: "utf8" });
    assert.equal(zsh.status, 0, "zsh is not installed: run 'make testenv' (scripts/testenv.sh installs it)");
    dir = mkdtempSync(join(tmpdir(), "pilotfish-zsh-"));
    const printed = await runCli(["completion", "zsh"]);
    assert.equal(printed.code, 0, printed.stderr);
    script = join(dir, "_pilotfish");
    writeFileSync(script, printed.stdout);
    capture = join(dir, "capture.zsh");
    writeFileSync(capture, captureScript);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** What zsh offers for LINE<TAB> with the completion script (or another file) loaded. */
  const offered = (line: string, loaded = script): string[] =>
    execFileSync("zsh", ["-f", capture, loaded, line], { encoding: "utf8", cwd: dir, timeout: 60_000 })
      .split("\n")
      .filter((word) => word !== "")
      .sort();

  test("loads after compinit with nothing on stderr and registers pilotfish's completion", () => {
    const result = spawnSync("zsh", ["-f", "-c", `autoload -U compinit && compinit -u && source '${script}' && print -r -- $_comps[pilotfish]`], { encoding: "utf8", cwd: dir });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, "");
    assert.match(result.stdout, /_pilotfish/);
  });

  test("TAB after 'pilotfish prox' offers proxy-config and proxy-status (nothing without the script)", () => {
    assert.deepEqual(offered("pilotfish prox"), ["proxy-config", "proxy-status"]);
    assert.deepEqual(offered("pilotfish prox", "/dev/null"), []);
  });

  test("kinds, flags and flag values complete as in bash", () => {
    assert.deepEqual(offered("pilotfish proxy-config r"), ["routes"]);
    assert.ok(offered("pilotfish explain --ho").includes("--host"));
    assert.deepEqual(offered("pilotfish explain --host a --scheme "), ["http", "https"]);
    assert.deepEqual(offered("pilotfish completion "), ["bash", "zsh"]);
  });
});
