/**
 * Parses a duration as Istio accepts it in its CRDs: protobuf's JSON form ("1s", "0.5s",
 * "1.000000001s") and Go's time.Duration form that Istio's CEL rules also allow ("100ms", "1m30s",
 * "2h", "500us", "10ns"). Returns milliseconds (possibly fractional) so callers can enforce Istio's
 * ">= 1ms" and "whole milliseconds" rules and still see the exact value.
 */
export type DurationResult = { ms: number } | { error: string };

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const TERM = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

export function parseDuration(text: string): DurationResult {
  if (typeof text !== "string" || text.length === 0) {
    return { error: `invalid duration ${JSON.stringify(text)}: expected a number with a unit, e.g. "1s", "0.5s" or "100ms"` };
  }
  let rest = text;
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    sign = rest.startsWith("-") ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === "0") return { ms: 0 };
  let total = 0;
  let position = 0;
  TERM.lastIndex = 0;
  while (position < rest.length) {
    TERM.lastIndex = position;
    const term = TERM.exec(rest);
    if (!term) {
      return { error: `invalid duration ${JSON.stringify(text)}: expected a number with a unit (ns, us, ms, s, m, h), e.g. "1s", "0.5s" or "100ms"` };
    }
    const [, amount = "", unit = ""] = term;
    total += Number(amount) * (UNIT_MS[unit] ?? Number.NaN);
    position = TERM.lastIndex;
  }
  if (!Number.isFinite(total)) return { error: `invalid duration ${JSON.stringify(text)}: out of range` };
  // Round away floating-point noise ("0.1s" is 100ms, not 100.00000000000001ms).
  const ms = Math.round(total * 1e6) / 1e6;
  return { ms: sign * ms };
}
