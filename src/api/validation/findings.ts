/** One validation result. `path` names the field (e.g. `spec.servers[0].port.name`). */
export interface Finding {
  severity: "error" | "warning";
  path: string;
  message: string;
}

/** Collects findings under a path prefix; keeps each rule one line long. */
export class Findings {
  readonly list: Finding[] = [];

  error(path: string, message: string): void {
    this.list.push({ severity: "error", path, message });
  }

  warning(path: string, message: string): void {
    this.list.push({ severity: "warning", path, message });
  }
}

/** `base[3]` */
export function at(base: string, index: number): string {
  return `${base}[${index}]`;
}

/** `base.key` for identifier-like keys, `base["odd key"]` otherwise. */
export function key(base: string, name: string): string {
  return /^[A-Za-z_][\w-]*$/.test(name) ? `${base}.${name}` : `${base}[${JSON.stringify(name)}]`;
}

export function hasErrors(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.severity === "error");
}
