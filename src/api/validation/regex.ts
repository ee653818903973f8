import { RE2JS } from "re2js";

/*
 * Regexes with Envoy's exact semantics, through re2js (a pure-JavaScript port of RE2).
 *
 * What Envoy 1.40 does with a `safe_regex` (measured with `envoy --mode validate`, see
 * test/unit/api/regex-table.test.ts):
 *
 * - RE2 parses the pattern as Latin-1: the pattern's UTF-8 bytes are separate characters, so
 *   `\x{100}` and above are invalid escapes and `é{2}` repeats the second byte of "é" only. The
 *   same holds when Envoy matches: the subject is a byte string. We hand re2js the Latin-1 view of
 *   both (each UTF-8 byte becomes one character 0x00..0xFF), which gives RE2's Latin-1 semantics.
 * - Istio's webhook compiles the pattern with Go's regexp (RE2's Go port, the one re2js is ported
 *   from) and refuses what it refuses: `\C` (any byte) is valid for Envoy's RE2 C++ but refused by
 *   Istio, so pilotfish refuses it too (docs/validation.md).
 * - A compiled program larger than `re2.max_program_size.error_level` makes Envoy reject the
 *   whole configuration. Envoy's default is 100 (regex.proto); Istio's bootstrap raises it to
 *   32768 and so do pilotfish's (src/envoy/bootstrap.ts `istioRuntime`), so the limit here is
 *   32768: every pattern Istio accepts within its 1,024 characters loads unless its program is
 *   larger than that. RE2 C++ counts byte-range
 *   instructions; re2js counts rune instructions, so the size is estimated from re2js's program:
 *   every instruction 1, a character class one per byte range it keeps in Latin-1, plus the two
 *   instructions of RE2's implicit capture group 0. The estimate is never below Envoy's figure on
 *   the test table (Envoy sometimes does better by stripping a literal prefix): pilotfish may
 *   refuse a pattern a little under the limit, never accept one Envoy rejects.
 */

/**
 * `re2.max_program_size.error_level` as pilotfish's bootstraps set it: Istio's 32768
 * (istio/istio pkg/bootstrap/config.go `extractRuntimeFlags`; src/envoy/bootstrap.ts
 * `istioRuntime`). Envoy without that runtime refuses programs above 100.
 */
export const ENVOY_MAX_PROGRAM_SIZE = 32768;

/** Envoy's own default `re2.max_program_size.error_level` (envoy/type/matcher/v3/regex.proto). */
export const ENVOY_DEFAULT_MAX_PROGRAM_SIZE = 100;

/** Istio's webhook refuses regexes longer than this (pkg/config/validation/validation.go validateStringRegexp). */
export const MAX_REGEX_LENGTH = 1024;

export interface CompiledRegex {
  /** RE2 program size estimate (an upper bound of what Envoy's RE2 reports). */
  programSize: number;
  /** Full match, as Envoy's route and header `safe_regex` matchers do. */
  fullMatch(input: string): boolean;
}

/** Each UTF-8 byte of `text` as one character (U+0000..U+00FF). */
export function latin1View(text: string): string {
  return Buffer.from(text, "utf8").toString("latin1");
}

/** Refuses what Latin-1 RE2 refuses and re2js would accept: escapes above \x{FF}. */
function latin1Problem(view: string): string | undefined {
  for (let index = 0; index < view.length; index++) {
    if (view[index] !== "\\") continue;
    const next = view[index + 1] ?? "";
    if (next === "Q") {
      // \Q...\E: everything up to \E is literal.
      const end = view.indexOf("\\E", index + 2);
      if (end < 0) return undefined;
      index = end + 1;
      continue;
    }
    if (next === "x" && view[index + 2] === "{") {
      const close = view.indexOf("}", index + 3);
      const digits = close < 0 ? "" : view.slice(index + 3, close);
      if (/^[0-9A-Fa-f]+$/.test(digits) && Number.parseInt(digits, 16) > 0xff) {
        return `invalid escape sequence: \\x{${digits}} (Envoy's RE2 reads patterns as Latin-1: code points above \\x{FF} do not exist)`;
      }
    }
    index++;
  }
  return undefined;
}

interface Re2jsInst {
  op: number;
  runes: ArrayLike<number>;
}

// re2js's Inst op codes (Inst.ALT, Inst.RUNE, Inst.RUNE_ANY_NOT_NL); every other op costs 1.
const INST_ALT = 1;
const INST_RUNE = 8;
const INST_RUNE_ANY_NOT_NL = 11;

/** re2js keeps its compiled program on an internal field; the shape is checked, not assumed. */
function instructions(compiled: RE2JS): readonly Re2jsInst[] | undefined {
  const prog = (compiled as unknown as { re2Input?: { prog?: { inst?: unknown } } }).re2Input?.prog?.inst;
  return Array.isArray(prog) ? (prog as Re2jsInst[]) : undefined;
}

/** Byte ranges a rune class keeps in Latin-1 (at least one instruction). */
function classCost(runes: ArrayLike<number>): number {
  let ranges = 0;
  for (let index = 0; index + 1 < runes.length; index += 2) {
    if ((runes[index] ?? 0x100) <= 0xff) ranges++;
  }
  return Math.max(1, ranges);
}

function estimateProgramSize(compiled: RE2JS): number {
  const program = instructions(compiled);
  if (!program) return Math.ceil((compiled.programSize() + 2) * 1.05) + 1;
  let size = 2; // RE2 C++ wraps the whole regex in capture group 0.
  for (const inst of program) {
    if (inst.op === INST_RUNE) size += classCost(inst.runes);
    else if (inst.op === INST_RUNE_ANY_NOT_NL) size += 2; // [00-09] [0B-FF]
    else if (inst.op === INST_ALT) size += 1.5;
    else size += 1;
  }
  // RE2 C++ spends an instruction more than re2js on some loops (a star over a nullable
  // group): half an instruction per alternation plus one keeps the estimate above Envoy's.
  return Math.ceil(size) + 1;
}

const cache = new Map<string, CompiledRegex | { error: string }>();

/** Compiles like Envoy's RE2 or explains why Envoy would refuse the pattern. */
export function compileRe2(pattern: string, maxProgramSize = ENVOY_MAX_PROGRAM_SIZE): CompiledRegex | { error: string } {
  const cacheKey = `${maxProgramSize}\u0000${pattern}`;
  const cached = cache.get(cacheKey);
  if (cached) return cached;
  const result = compileUncached(pattern, maxProgramSize);
  if (cache.size > 2000) cache.clear();
  cache.set(cacheKey, result);
  return result;
}

function compileUncached(pattern: string, maxProgramSize: number): CompiledRegex | { error: string } {
  // Istio's webhook: Go's regexp over the UTF-8 pattern (re2js is its port).
  if ([...pattern].some((char) => char.charCodeAt(0) > 0x7f)) {
    try {
      RE2JS.compile(pattern);
    } catch (error) {
      return { error: (error as Error).message.replace(/^error parsing regexp: /, "") };
    }
  }
  // Envoy: RE2 over the Latin-1 view, within the program-size limit.
  const view = latin1View(pattern);
  const problem = latin1Problem(view);
  if (problem) return { error: problem };
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(view);
  } catch (error) {
    return { error: (error as Error).message.replace(/^error parsing regexp: /, "") };
  }
  const programSize = estimateProgramSize(compiled);
  if (programSize > maxProgramSize) {
    return {
      error: `its RE2 program size is about ${programSize}, above Envoy's limit of ${maxProgramSize} (re2.max_program_size.error_level): simplify it (large {n,m} repetitions and long alternations cost the most)`,
    };
  }
  return { programSize, fullMatch: (input: string) => compiled.matches(latin1View(input)) };
}

/** Why Envoy (and Istio) would refuse `pattern` as a `regex` StringMatch, or undefined. */
export function regexProblem(pattern: string, maxProgramSize = ENVOY_MAX_PROGRAM_SIZE): string | undefined {
  if (pattern.length > MAX_REGEX_LENGTH) return `regex is ${pattern.length} characters long; at most ${MAX_REGEX_LENGTH} are allowed`;
  const result = compileRe2(pattern, maxProgramSize);
  if ("error" in result) return `regex "${pattern}" is not valid RE2 as Envoy compiles it: ${result.error}`;
  return undefined;
}

/** Envoy's `safe_regex` full match, or undefined when Envoy would refuse the pattern. */
export function re2FullMatch(pattern: string, input: string): boolean | undefined {
  const result = compileRe2(pattern);
  return "error" in result ? undefined : result.fullMatch(input);
}
