/**
 * `pilotfish completion bash|zsh`: shell completion generated from the command tree itself, so
 * a new verb or flag completes without editing a script. zsh loads the same function through
 * bashcompinit (zsh's own bridge for bash completions).
 */
import type { Command, Option } from "commander";

/** Flags whose value is a path: complete file names. */
const pathFlags = new Set(["-f", "--filename", "--config-dir", "--layout", "--kubeconfig", "--envoy"]);

/** Values a flag takes, when they are a short fixed list (from commander's choices, else known ones). */
function flagValues(option: Option, verb: string): string[] | undefined {
  const choices = (option as Option & { argChoices?: string[] }).argChoices;
  if (choices && choices.length > 0) return choices;
  if (option.long === "--scheme") return ["http", "https"];
  if (option.long === "--output") {
    if (verb === "explain" || verb === "analyze") return ["text", "json"];
    if (verb === "proxy-status" || verb === "proxy-config") return ["table", "json", "yaml"];
    return ["json", "yaml"];
  }
  return undefined;
}

/** Positional words a verb completes (proxy-config's kinds, completion's shells). */
const positionalWords: Record<string, string[]> = {
  "proxy-config": ["listeners", "routes", "clusters", "endpoints", "secrets", "all"],
  completion: ["bash", "zsh"],
};

const quoteWords = (words: readonly string[]): string => words.join(" ").replace(/["$`\\]/g, "");

export function bashCompletion(program: Command): string {
  const commands = program.commands.filter((command) => !(command as Command & { _hidden?: boolean })._hidden);
  const verbs = commands.map((command) => command.name()).sort();
  const verbCases: string[] = [];
  const valueCases = new Map<string, string>();
  for (const command of commands) {
    const verb = command.name();
    const flags = command.options.flatMap((option) => [option.short, option.long].filter((flag): flag is string => flag !== undefined));
    flags.push("--help", "-h");
    const positional = positionalWords[verb];
    const positionalLine = positional ? `      if [ "$COMP_CWORD" -eq 2 ]; then COMPREPLY=( $(compgen -W "${quoteWords(positional)}" -- "$cur") ); return 0; fi\n` : "";
    verbCases.push(`    ${verb})\n${positionalLine}      words="${quoteWords(flags)}" ;;`);
    for (const option of command.options) {
      const values = flagValues(option, verb);
      if (!values) continue;
      for (const flag of [option.short, option.long]) if (flag) valueCases.set(`${verb} ${flag}`, quoteWords(values));
    }
  }
  const pathPattern = [...pathFlags].join("|");
  const valueLines = [...valueCases.entries()].map(([key, values]) => `    "${key}") COMPREPLY=( $(compgen -W "${values}" -- "$cur") ); return 0 ;;`);
  return `# pilotfish completion for bash. Load it with:  source <(pilotfish completion bash)
_pilotfish() {
  local cur prev verb words
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  verb="\${COMP_WORDS[1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${quoteWords(verbs)} --help --version" -- "$cur") )
    return 0
  fi
  case "$prev" in
    ${pathPattern}) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
  esac
  case "$verb $prev" in
${valueLines.join("\n")}
  esac
  case "$verb" in
${verbCases.join("\n")}
    *) words="" ;;
  esac
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
  return 0
}
complete -F _pilotfish pilotfish
`;
}

export function zshCompletion(program: Command): string {
  return `#compdef pilotfish
# pilotfish completion for zsh. Load it with:  source <(pilotfish completion zsh)
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(program).split("\n").slice(1).join("\n")}`;
}
