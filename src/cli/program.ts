import { Command } from "commander";
import { registerAgentCommand } from "./commands/agent.js";
import { registerAnalyzeCommand } from "./commands/analyze.js";
import { registerCompileCommand } from "./commands/compile.js";
import { registerCompletionCommand } from "./commands/completion.js";
import { registerExplainCommand } from "./commands/explain.js";
import { registerOperatorCommand } from "./commands/operator.js";
import { registerProxyConfigCommand } from "./commands/proxy-config.js";
import { registerProxyStatusCommand } from "./commands/proxy-status.js";
import { registerRunCommand } from "./commands/run.js";
import { readPackageInfo } from "./package-info.js";

// Builds the command tree; kept apart from main.ts so tests can parse arguments without
// spawning a process.
export function buildProgram(): Command {
  const info = readPackageInfo();
  const program = new Command("pilotfish")
    .description(
      `${info.description}.\n\n` +
        "Apply Istio's networking.istio.io manifests (Gateway, VirtualService, DestinationRule) " +
        "and pilotfish compiles them to Envoy configuration.",
    )
    .version(info.version, "-v, --version", "print the pilotfish version")
    .showHelpAfterError("(run 'pilotfish --help' for usage)")
    .configureHelp({ sortSubcommands: true });
  registerAgentCommand(program);
  registerAnalyzeCommand(program);
  registerCompileCommand(program);
  registerCompletionCommand(program);
  registerExplainCommand(program);
  registerOperatorCommand(program);
  registerProxyConfigCommand(program);
  registerProxyStatusCommand(program);
  registerRunCommand(program);
  return program;
}
