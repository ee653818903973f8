/**
 * Whether a pattern is acceptable to RE2 (Envoy's and Istio's regex engine). JavaScript cannot run
 * RE2, so RE2-only syntax is rewritten to its JS equivalent and JS-only features that RE2 rejects
 * (look-around, back-references) are refused explicitly, then the result must compile.
 */
export const MAX_REGEX_LENGTH = 1024;

export function regexProblem(pattern: string): string | undefined {
  if (pattern.length > MAX_REGEX_LENGTH) return `regex is ${pattern.length} characters long; at most ${MAX_REGEX_LENGTH} are allowed`;
  if (/\(\?<?[=!]/.test(pattern)) return `regex "${pattern}" uses look-ahead or look-behind, which RE2 does not support`;
  if (/(^|[^\\])(\\\\)*\\[1-9]/.test(pattern) || /\\k</.test(pattern)) return `regex "${pattern}" uses a back-reference, which RE2 does not support`;
  const flags = new Set<string>();
  const translated = pattern
    .replace(/\(\?P</g, "(?<")
    .replace(/\(\?([imsU]+)\)/g, (_whole, f: string) => {
      for (const flag of f) flags.add(flag);
      return "";
    })
    .replace(/\(\?[imsU]+:/g, "(?:")
    .replace(/\\[AzQE]/g, "")
    .replace(/\[\[:(\w+):\]\]/g, "[a-z]")
    .replace(/\[:(\w+):\]/g, "a-z");
  try {
    new RegExp(translated, [...flags].filter((f) => "ims".includes(f)).join(""));
  } catch (error) {
    return `regex "${pattern}" does not compile: ${(error as Error).message.replace(/^Invalid regular expression: /, "")}`;
  }
  return undefined;
}
