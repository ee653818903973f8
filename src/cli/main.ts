#!/usr/bin/env node
import type { Command } from "commander";

// `pilotfish agent` runs in every gateway pod: it loads only its own command, not the operator's
// (Kubernetes client, webhook, compiler), which would more than double its memory (bench/agent.ts).
async function program(): Promise<Command> {
  if (process.argv[2] === "agent") {
    const [{ Command }, { registerAgentCommand }] = await Promise.all([import("commander"), import("./commands/agent.js")]);
    const agentOnly = new Command("pilotfish");
    registerAgentCommand(agentOnly);
    return agentOnly;
  }
  const { buildProgram } = await import("./program.js");
  return buildProgram();
}

program()
  .then((built) => built.parseAsync(process.argv))
  .catch((error: unknown) => {
    process.stderr.write(`pilotfish: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
