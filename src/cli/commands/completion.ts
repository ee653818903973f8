import type { Command } from "commander";
import { bashCompletion, zshCompletion } from "../completion.js";

const examples = `
Examples:
  source <(pilotfish completion bash)                                  # this shell
  pilotfish completion bash > /etc/bash_completion.d/pilotfish          # every bash
  pilotfish completion zsh > "\${fpath[1]}/_pilotfish"                   # zsh

Completes the verbs, each verb's flags, proxy-config's kinds, and the values of -o and --scheme.
Exit codes: 0 printed, 1 unknown shell.`;

export function registerCompletionCommand(program: Command): void {
  program
    .command("completion")
    .argument("<shell>", "bash or zsh")
    .description("print a shell completion script for pilotfish")
    .addHelpText("after", examples)
    .action((shell: string) => {
      if (shell === "bash") process.stdout.write(bashCompletion(program));
      else if (shell === "zsh") process.stdout.write(zshCompletion(program));
      else throw new Error(`unknown shell ${shell}: expected bash or zsh`);
    });
}
