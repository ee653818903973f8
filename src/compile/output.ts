/**
 * What the compiler returns: Envoy v3 resources as plain JSON (their shapes live in
 * envoy/resources.ts), and diagnostics about the input. This module is the contract between the
 * compiler and everything downstream (publish, status, the CLI), so it holds types and small pure
 * helpers only.
 */
import type { EnvoyResources } from "../envoy/resources.js";
import type { MeshConfig } from "./mesh.js";

export type DiagnosticSeverity = "error" | "warning";

/**
 * Something the compiler could not (fully) translate. `kind`/`namespace`/`name` identify the
 * Istio resource to report it on; `field` is a JSON-path-like pointer into its spec
 * (e.g. `spec.servers[1].hosts`), so the status work can publish it as a condition.
 */
export interface Diagnostic {
  severity: DiagnosticSeverity;
  kind: string;
  namespace: string;
  name: string;
  field: string;
  message: string;
}

export interface CompileOptions {
  /**
   * Istio ≤ 1.23 listed 503 among the default retriable status codes; 1.24+ does not. The
   * seeds show 1.17, so this is a mesh-wide switch (default: the current Istio behaviour).
   */
  defaultRetryOn503: boolean;
  /**
   * Overrides of the mesh-wide settings (compile/mesh.ts `meshDefaults`, Istio's defaults), e.g.
   * `{ accessLogFile: "/dev/stdout" }` for the access logs the seeds' installs turn on.
   * `mesh.defaultRetryOn503`, when set, wins over `defaultRetryOn503`.
   */
  mesh?: Partial<MeshConfig>;
}

export const defaultCompileOptions: CompileOptions = Object.freeze({ defaultRetryOn503: false });

export interface CompileResult {
  resources: EnvoyResources;
  diagnostics: Diagnostic[];
}

/** Diagnostics in a stable order: by resource, then field, then message. */
export function sortDiagnostics(diagnostics: Diagnostic[]): Diagnostic[] {
  const key = (d: Diagnostic) => [d.kind, d.namespace, d.name, d.field, d.severity, d.message].join("\u0000");
  return [...diagnostics].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
