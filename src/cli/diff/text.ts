/**
 * A unified diff of two texts, line by line (longest common subsequence), in the format `diff -u`
 * and `git diff` print, so people and `patch` read it. Resources are YAML of a few hundred lines
 * at most; above `maxCells` the quadratic table is skipped and the hunk is the whole text.
 */

const maxCells = 4_000_000;

type Op = { kind: " " | "-" | "+"; line: string };

function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

function editScript(a: readonly string[], b: readonly string[]): Op[] {
  if (a.length * b.length > maxCells) return [...a.map((line): Op => ({ kind: "-", line })), ...b.map((line): Op => ({ kind: "+", line }))];
  // lengths[i][j]: LCS of a[i..] and b[j..]
  const width = b.length + 1;
  const lengths = new Uint32Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lengths[i * width + j] = a[i] === b[j] ? (lengths[(i + 1) * width + j + 1] ?? 0) + 1 : Math.max(lengths[(i + 1) * width + j] ?? 0, lengths[i * width + j + 1] ?? 0);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      ops.push({ kind: " ", line: a[i] ?? "" });
      i++;
      j++;
    } else if (j < b.length && (i === a.length || (lengths[i * width + j + 1] ?? 0) >= (lengths[(i + 1) * width + j] ?? 0))) {
      ops.push({ kind: "+", line: b[j] ?? "" });
      j++;
    } else {
      ops.push({ kind: "-", line: a[i] ?? "" });
      i++;
    }
  }
  // Within a run of changes, print removals before additions (as diff -u does).
  const ordered: Op[] = [];
  for (let k = 0; k < ops.length; ) {
    if (ops[k]?.kind === " ") {
      ordered.push(ops[k] as Op);
      k++;
      continue;
    }
    let end = k;
    while (end < ops.length && ops[end]?.kind !== " ") end++;
    const run = ops.slice(k, end);
    ordered.push(...run.filter((op) => op.kind === "-"), ...run.filter((op) => op.kind === "+"));
    k = end;
  }
  return ordered;
}

/** `--- a` / `+++ b` and hunks with `context` lines around each change; "" when equal. */
export function unifiedDiff(before: string, after: string, labels: { from: string; to: string }, context = 3): string {
  if (before === after) return "";
  const ops = editScript(splitLines(before), splitLines(after));
  const changed = ops.map((op, index) => (op.kind === " " ? -1 : index)).filter((index) => index >= 0);
  const hunks: { start: number; end: number }[] = [];
  for (const index of changed) {
    const start = Math.max(0, index - context);
    const end = Math.min(ops.length, index + context + 1);
    const last = hunks[hunks.length - 1];
    if (last && start <= last.end) last.end = Math.max(last.end, end);
    else hunks.push({ start, end });
  }
  const out = [`--- ${labels.from}`, `+++ ${labels.to}`];
  for (const hunk of hunks) {
    let oldStart = 1;
    let newStart = 1;
    for (const op of ops.slice(0, hunk.start)) {
      if (op.kind !== "+") oldStart++;
      if (op.kind !== "-") newStart++;
    }
    const body = ops.slice(hunk.start, hunk.end);
    const oldCount = body.filter((op) => op.kind !== "+").length;
    const newCount = body.filter((op) => op.kind !== "-").length;
    const range = (start: number, count: number): string => `${count === 0 ? start - 1 : start},${count}`;
    out.push(`@@ -${range(oldStart, oldCount)} +${range(newStart, newCount)} @@`);
    for (const op of body) out.push(`${op.kind}${op.line}`);
  }
  return `${out.join("\n")}\n`;
}
