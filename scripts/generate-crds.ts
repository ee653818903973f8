// Writes every file generated from src/api/schema (CRDs, JSON Schemas). Run: make generate
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { generatedFiles } from "../src/api/generate/outputs.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
for (const [path, content] of generatedFiles()) {
  const target = join(root, path);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, content);
  console.log(`wrote ${path}`);
}
