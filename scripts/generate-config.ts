// Writes the chart's values.schema.json, then config/ from the chart's defaults (helm template).
// Run: make generate-config (after changing charts/pilotfish or scripts/generate-config).
import { existsSync, readdirSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { repoRoot } from "../test/support/paths.js";
import { configFolders, renderConfig } from "./generate-config/render.js";
import { renderValuesSchema, valuesSchemaPath } from "./generate-config/values-schema.js";

const write = (path: string, content: string): void => {
  const target = join(repoRoot, path);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, content);
  console.log(`wrote ${path}`);
};

// The schema first: helm template checks the default values against it.
write(valuesSchemaPath, renderValuesSchema());
const files = renderConfig();
for (const folder of configFolders) {
  const dir = join(repoRoot, "config", folder);
  if (!existsSync(dir)) continue;
  // YAML the chart no longer renders must go (kubectl apply -f would still apply it).
  for (const name of readdirSync(dir).filter((entry) => entry.endsWith(".yaml"))) {
    if (!files.has(`config/${folder}/${name}`)) rmSync(join(dir, name));
  }
}
for (const [path, content] of files) write(path, content);
