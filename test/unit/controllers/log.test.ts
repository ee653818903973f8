import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { createLogger, withFields } from "../../../src/controllers/log.js";
import type { LogFormat, LogLevel } from "../../../src/controllers/log.js";

async function logged(format: LogFormat, level: LogLevel, write: (logger: ReturnType<typeof createLogger>) => void): Promise<string[]> {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
  write(createLogger(level, format, stream));
  await new Promise((resolve) => setImmediate(resolve));
  return text.split("\n").filter(Boolean);
}

describe("operator logs", () => {
  test("text: level, then the proxy/resource key in brackets, then the message", async () => {
    const [line] = await logged("text", "info", (logger) => logger.warn("not publishing (TooLarge): x", { proxy: "istio-system/gw" }));
    assert.match(line ?? "", /^\d{4}-\d\d-\d\dT[\d:.]+Z warn {2}\[proxy=istio-system\/gw\] not publishing \(TooLarge\): x$/);
  });

  test("withFields: every line carries the reconcile id, a line's own fields kept and winning", async () => {
    const lines = await logged("json", "debug", (logger) => {
      const run = withFields(logger, { reconcile: "r-7", proxy: "istio-system/gw" });
      run.info("published");
      run.warn("override", { proxy: "other/gw", resource: "Gateway/a/b" });
    });
    const [first, second] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual([first?.reconcile, first?.proxy, first?.message], ["r-7", "istio-system/gw", "published"]);
    assert.deepEqual([second?.reconcile, second?.proxy, second?.resource], ["r-7", "other/gw", "Gateway/a/b"]);
  });

  // Found by test/fixtures/hostile: a finding quoting '%%' lost its resource key (winston's splat).
  test("a message with printf tokens (%s, %d, %%) keeps its fields", async () => {
    const lines = await logged("json", "info", (logger) => {
      logger.warn("header value \"%DOWNSTREAM_REMOTE_ADDRESS\" is unterminated: close it with '%' or write '%%'", { resource: "VirtualService/a/b" });
      logger.info("100%s %d", { proxy: "istio-system/gw" });
    });
    const [first, second] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(first?.resource, "VirtualService/a/b");
    assert.match(String(first?.message), /write '%%'$/);
    assert.equal(second?.proxy, "istio-system/gw");
    assert.equal(second?.message, "100%s %d");
  });

  test("json: one object per line with the keys as fields", async () => {
    const [line] = await logged("json", "info", (logger) => logger.warn("skipping invalid VirtualService a/b: spec.http: bad", { resource: "VirtualService/a/b", field: "spec.http" }));
    const parsed = JSON.parse(line ?? "{}") as Record<string, unknown>;
    assert.equal(parsed.level, "warn");
    assert.equal(parsed.resource, "VirtualService/a/b");
    assert.equal(parsed.field, "spec.http");
    assert.equal(typeof parsed.timestamp, "string");
  });

  test("the level filters", async () => {
    const lines = await logged("json", "warn", (logger) => {
      logger.debug("d");
      logger.info("i");
      logger.warn("w");
      logger.error("e");
    });
    assert.deepEqual(lines.map((line) => (JSON.parse(line) as { message: string }).message), ["w", "e"]);
  });
});
