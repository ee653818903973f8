import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { createLogger } from "../../../src/controllers/log.js";
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
