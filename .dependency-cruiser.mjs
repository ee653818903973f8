/**
 * The layers of src/, and the only directions imports may take between them. `make lint` runs
 * `depcruise src` with this file and fails on any violation. Tests, bench and scripts are not
 * checked: they may import anything.
 *
 * Lowest first; a layer imports itself and the layers under it, never the ones above:
 *
 *   cli                           everything (the composition root)
 *   controllers  agent  webhook   anything below, never cli
 *   sources                       model, api, envoy, pki (sources produce the model's inputs)
 *   publish  xds  explain         compile and below (explain: traces and inspects compiled config)
 *   compile                       model, api, envoy, pki
 *   model                         api, envoy
 *   api                           envoy
 *   envoy  pki                    nothing (leaves)
 *
 * Layers on one line are peers: they may import each other, but no cycle may run between layers
 * (last rules). Folders that do not exist yet are listed so that they start out in their place.
 * Each rule below is named for what it forbids; its `to.pathNot` is the list of what is allowed.
 * See docs/architecture.md ("Layers") and docs/dependencies.md (why dependency-cruiser).
 */

/** The src/ folders this file knows; any other folder fails `src-folder-is-a-layer`. */
const layers = ["envoy", "pki", "api", "model", "compile", "publish", "xds", "explain", "sources", "controllers", "agent", "webhook", "cli"];

/** `^src/(a|b)/`: a module in one of these layers. */
const inLayers = (...names) => `^src/(${names.join("|")})/`;

/** A rule: modules in `from` may import modules in src/ only from the `allowed` layers. */
const onlyImports = (name, comment, from, allowed) => ({
  name,
  comment,
  severity: "error",
  from: { path: inLayers(...from) },
  to: { path: "^src/", pathNot: inLayers(...allowed) },
});

export default {
  forbidden: [
    onlyImports(
      "envoy-imports-nothing-above",
      "envoy is the lowest layer (Envoy JSON shapes, constructors, file layout): it imports only envoy.",
      ["envoy"],
      ["envoy"],
    ),
    onlyImports(
      "pki-imports-nothing-above",
      "pki is a leaf (certificate generation): it imports only pki.",
      ["pki"],
      ["pki"],
    ),
    onlyImports(
      "api-imports-only-envoy",
      "api (Istio schemas, types, validation) may use envoy facts such as cipher suites, nothing else.",
      ["api"],
      ["api", "envoy"],
    ),
    onlyImports(
      "model-imports-only-api-envoy",
      "model (typed inputs, snapshot, the gateway proxy) is built from api types; it never knows the compiler.",
      ["model"],
      ["model", "api", "envoy"],
    ),
    onlyImports(
      "compile-imports-only-model-api-envoy-pki",
      "compile is pure: model in, envoy resources out. It never imports what publishes or watches.",
      ["compile"],
      ["compile", "model", "api", "envoy", "pki"],
    ),
    onlyImports(
      "publish-xds-import-only-compile-and-below",
      "publish and xds deliver compiled resources; they do not watch (sources), reconcile (controllers) or parse flags (cli).",
      ["publish", "xds"],
      ["publish", "xds", "compile", "model", "api", "envoy", "pki"],
    ),
    onlyImports(
      "explain-imports-only-compile-and-below",
      "explain (request tracing, proxy-config tables, cross-reference analysis) is pure: it reads compiled or dumped config, never a process, file or cluster.",
      ["explain"],
      ["explain", "compile", "model", "api", "envoy", "pki"],
    ),
    onlyImports(
      "sources-import-only-model-and-below",
      "sources produce model inputs (files, informers); they never compile or publish.",
      ["sources"],
      ["sources", "model", "api", "envoy", "pki"],
    ),
    onlyImports(
      "controllers-agent-webhook-do-not-import-cli",
      "controllers, agent and webhook wire the layers below together; only cli wires them (nothing imports cli but cli).",
      ["controllers", "agent", "webhook"],
      layers.filter((layer) => layer !== "cli"),
    ),
    {
      name: "src-folder-is-a-layer",
      comment: "Every folder of src/ is a layer listed in .dependency-cruiser.mjs: add a new one there, in its place.",
      severity: "error",
      from: { path: "^src/", pathNot: inLayers(...layers) },
      to: { path: "^src/" },
    },
    {
      name: "import-only-listed-layers",
      comment: "Imports go to layers listed in .dependency-cruiser.mjs: add a new folder there, in its place.",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^src/", pathNot: inLayers(...layers) },
    },
    {
      name: "no-cycle-between-layers",
      comment: "A cycle that leaves its layer makes two layers one; peers (publish/xds, controllers/agent/webhook) may import each other, but not both ways.",
      severity: "error",
      from: { path: "^src/([^/]+)/" },
      to: { circular: true, via: { pathNot: "^src/$1/" } },
    },
    {
      name: "no-unresolvable-import",
      comment: "Every import must resolve, or the rules above could not see where it points.",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Type-only imports count: `import type` from a higher layer is still an upward dependency.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    doNotFollow: { path: "node_modules" },
    // Resolve packages as `moduleResolution: NodeNext` does (`exports` first), so that
    // no-unresolvable-import flags real mistakes, not ESM-only packages.
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["types", "import", "node", "default"],
      mainFields: ["types", "typings", "main"],
    },
    skipAnalysisNotInRules: true,
  },
};
