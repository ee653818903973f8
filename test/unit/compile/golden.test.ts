import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { goldenCases, goldenFiles, isGoldenOutput } from "../../golden/cases.js";

// UPDATE_GOLDEN=1 rewrites the expected files and deletes outputs a case no longer produces.
const update = process.env.UPDATE_GOLDEN === "1";

for (const golden of goldenCases()) {
  test(`golden ${golden.name}`, { skip: golden.skip }, () => {
    const result = golden.compile();
    const expected = goldenFiles(result);
    const present = readdirSync(golden.dir).filter(isGoldenOutput);
    if (update) {
      for (const file of present) if (!expected.has(file)) rmSync(join(golden.dir, file));
      for (const [file, text] of expected) writeFileSync(join(golden.dir, file), text);
      return;
    }
    assert.deepEqual(present.sort(), [...expected.keys()].sort(), "output files differ (run with UPDATE_GOLDEN=1 and review the diff)");
    for (const [file, text] of expected) {
      assert.equal(text, readFileSync(join(golden.dir, file), "utf8"), `${golden.name}/${file} differs (UPDATE_GOLDEN=1 to accept)`);
    }
    // Deterministic: a second compile of the same input gives the same bytes.
    assert.deepEqual(goldenFiles(golden.compile()), expected);
  });
}
