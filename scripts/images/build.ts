/**
 * Builds the project's images into the bench's cache (bench/images/), reusing what is already
 * built: `npx tsx scripts/images/build.ts [NAME ...]` (default: all). Prints one line per image.
 */
import { join } from "node:path";
import { buildImage } from "./oci.js";
import type { BuiltImage } from "./oci.js";
import { benchDir } from "../../test/support/paths.js";
import { imageSpecs } from "./specs.js";
import type { ImageName } from "./specs.js";

export function isImageName(name: string): name is ImageName {
  return Object.hasOwn(imageSpecs, name);
}

export function buildImages(names: readonly ImageName[], bench = benchDir()): BuiltImage[] {
  return names.map((name) => {
    const spec = imageSpecs[name];
    return buildImage(spec.reference, spec.config, spec.inputs(bench), (scratch) => spec.entries(bench, scratch), join(bench, "images"));
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const requested = process.argv.slice(2);
  const unknown = requested.filter((name) => !isImageName(name));
  if (unknown.length > 0) {
    process.stderr.write(`unknown image ${unknown.join(", ")} (known: ${Object.keys(imageSpecs).join(", ")})\n`);
    process.exit(2);
  }
  const names = (requested.length > 0 ? requested : Object.keys(imageSpecs)) as ImageName[];
  for (const name of names) {
    const started = Date.now();
    const [image] = buildImages([name]);
    if (image) process.stdout.write(`${image.reference.padEnd(44)} ${image.cached ? "cached" : `built in ${((Date.now() - started) / 1000).toFixed(1)}s`}  ${image.tarball}\n`);
  }
}
