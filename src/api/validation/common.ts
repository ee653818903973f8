import { parseDuration } from "../duration.js";
import type { Findings} from "./findings.js";
import { at, key } from "./findings.js";
import { isDnsLabel, isHeaderName, labelKeyProblem, labelValueProblem } from "./names.js";

/** Istio: durations are >= 1ms and whole milliseconds. */
export function checkDuration(out: Findings, path: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = parseDuration(value);
  if ("error" in parsed) {
    out.error(path, `${parsed.error}`);
    return undefined;
  }
  if (parsed.ms < 1) {
    out.error(path, `duration "${value}" must be at least 1ms`);
  } else if (!Number.isInteger(parsed.ms)) {
    out.error(path, `duration "${value}" has sub-millisecond precision; only whole milliseconds are supported (e.g. "${Math.round(parsed.ms)}ms")`);
  }
  return parsed.ms;
}

export function checkPortNumber(out: Findings, path: string, value: number | undefined): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < 1 || value > 65535) out.error(path, `port number ${value} must be in the range 1..65535`);
}

export function checkPercentage(out: Findings, path: string, value: number | undefined): void {
  if (value === undefined) return;
  if (value < 0 || value > 100) out.error(path, `percentage ${value} must be between 0.0 and 100.0`);
}

/**
 * exportTo as Istio's validateExportTo checks it (validation.go; visibility.Instance.Validate):
 * ".", "*" or a namespace name, each once; "~" (export to nobody) is for ServiceEntry only;
 * "*" cannot be combined with other entries.
 */
export function checkExportTo(out: Findings, path: string, exportTo: readonly string[] | undefined): void {
  if (!exportTo?.length) return;
  const seen = new Set<string>();
  for (const [index, entry] of exportTo.entries()) {
    const itemPath = at(path, index);
    if (seen.has(entry)) {
      out.error(itemPath, `duplicate entry "${entry}" in exportTo: list each namespace once`);
      continue;
    }
    if (entry === "~") out.error(itemPath, 'exportTo "~" (no namespace) is only allowed on ServiceEntry: use "." to keep the resource in its namespace');
    else if (entry !== "." && entry !== "*" && !isDnsLabel(entry)) out.error(itemPath, `exportTo entry "${entry}" is invalid: use ".", "*" or a namespace name`);
    else seen.add(entry);
  }
  if (seen.has("*") && exportTo.length > 1) out.error(path, 'exportTo "*" (every namespace) cannot be combined with other entries: keep "*" alone');
}

export function checkLabels(out: Findings, path: string, labels: Record<string, string> | undefined): void {
  if (!labels) return;
  for (const [name, value] of Object.entries(labels)) {
    const problem = labelKeyProblem(name) ?? labelValueProblem(value);
    if (problem) out.error(key(path, name), problem);
  }
}

export function checkHeaderName(out: Findings, path: string, name: string): boolean {
  if (name === "") {
    out.error(path, "header name cannot be empty");
    return false;
  }
  if (!isHeaderName(name)) {
    out.error(path, `header name "${name}" is invalid: use letters, digits and '-' (an RFC 7230 token)`);
    return false;
  }
  return true;
}
