/**
 * A node:test reporter (plain JavaScript: node loads reporters before tsx's hooks) that prints, when the run ends, how long each test file took (from the
 * runner starting the file's process to the file's end), slowest first, and whether it passed.
 * The Makefile adds it beside the spec reporter so every CI phase ends with the files that cost
 * its time: the figures to look at before making a phase faster (or when a new file makes it slow).
 *   node --import tsx --test --test-reporter=spec --test-reporter-destination=stdout \
 *     --test-reporter=./test/support/durations-reporter.mjs --test-reporter-destination=stdout FILES
 * PILOTFISH_DURATIONS_TOP limits the table to the N slowest files (default: all).
 */
import { relative } from "node:path";
import process from "node:process";

/** @typedef {{ type: string, data?: { name?: string, file?: string } }} ReporterEvent */
/** @typedef {{ startedAt?: number, endedAt?: number, failed: boolean }} FileTiming */

/**
 * @param {AsyncIterable<ReporterEvent>} source
 * @returns {AsyncGenerator<string>}
 */
export default async function* durationsReporter(source) {
  const runStarted = Date.now();
  /** @type {Map<string, FileTiming>} */
  const files = new Map();
  /** @param {string} file */
  const timing = (file) => {
    let entry = files.get(file);
    if (!entry) files.set(file, (entry = { failed: false }));
    return entry;
  };
  for await (const event of source) {
    const file = event.data?.file;
    if (!file) continue;
    const entry = timing(file);
    // The runner reports each file as a test named after its path: dequeued when its process
    // starts, complete when the process has exited.
    const isFile = event.data?.name === file;
    if (isFile && event.type === "test:dequeue") entry.startedAt = Date.now();
    if (isFile && event.type === "test:complete") entry.endedAt = Date.now();
    if (event.type === "test:fail") entry.failed = true;
  }
  // Only test files the runner started: a shared module that defines tests (imported by several
  // files) reports events under its own path but is never dequeued itself.
  const rows = [...files.entries()]
    .filter(([, entry]) => entry.startedAt !== undefined)
    .map(([file, entry]) => ({ file: relative(process.cwd(), file), seconds: ((entry.endedAt ?? Date.now()) - (entry.startedAt ?? Date.now())) / 1000, failed: entry.failed }))
    .sort((a, b) => b.seconds - a.seconds);
  const top = Number(process.env.PILOTFISH_DURATIONS_TOP) || rows.length;
  const total = rows.reduce((sum, row) => sum + row.seconds, 0);
  yield `\n# test files by duration (${rows.length} files, ${total.toFixed(1)} s summed, ${((Date.now() - runStarted) / 1000).toFixed(1)} s wall)\n`;
  for (const row of rows.slice(0, top)) yield `# ${row.seconds.toFixed(1).padStart(8)} s  ${row.file}${row.failed ? "  (failed)" : ""}\n`;
}
