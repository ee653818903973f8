import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { freePort, httpRequest, tcpExchange, waitFor } from "../../support/net.js";
import { startHttpbin, startTcpEcho } from "../../support/upstreams/index.js";
import type { Httpbin, TcpEcho } from "../../support/upstreams/index.js";

describe("httpbin-like upstream", () => {
  let httpbin: Httpbin;
  before(async () => {
    httpbin = await startHttpbin({ name: "catalog-v1" });
  });
  after(() => httpbin.close());

  it("/headers echoes the request headers in httpbin's shape, names as sent", async () => {
    const response = await httpRequest({ url: `${httpbin.url}/headers`, headers: { "X-Test-Header": "hello" } });
    assert.equal(response.status, 200);
    assert.equal(response.headers["content-type"], "application/json");
    const body = JSON.parse(response.body) as { headers: Record<string, string> };
    assert.equal(body.headers["X-Test-Header"], "hello");
    assert.equal(body.headers["Host"], `127.0.0.1:${httpbin.port}`);
  });

  it("every response names the upstream in x-upstream", async () => {
    for (const path of ["/headers", "/status/503", "/anything", "/api/catalog"]) {
      const response = await httpRequest({ url: httpbin.url + path });
      assert.equal(response.headers["x-upstream"], "catalog-v1", path);
    }
  });

  it("/status/:code answers with that code", async () => {
    assert.equal((await httpRequest({ url: `${httpbin.url}/status/500` })).status, 500);
    assert.equal((await httpRequest({ url: `${httpbin.url}/status/418` })).status, 418);
    assert.equal((await httpRequest({ url: `${httpbin.url}/status/204` })).status, 204);
  });

  it("/delay/:seconds waits (fractions allowed) before answering 200", async () => {
    const started = Date.now();
    const response = await httpRequest({ url: `${httpbin.url}/delay/0.3` });
    const elapsed = Date.now() - started;
    assert.equal(response.status, 200);
    assert.ok(elapsed >= 290, `answered after ${elapsed} ms, expected ≥ 300`);
    assert.ok(elapsed < 2000, `answered after ${elapsed} ms`);
  });

  it("/anything returns method, url, args and data", async () => {
    const response = await httpRequest({
      url: `${httpbin.url}/anything/deep/path?a=1&b=2&b=3`,
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "payload",
    });
    assert.equal(response.status, 200);
    const body = JSON.parse(response.body) as Record<string, unknown>;
    assert.equal(body.method, "POST");
    assert.equal(body.url, "/anything/deep/path?a=1&b=2&b=3");
    assert.deepEqual(body.args, { a: "1", b: ["2", "3"] });
    assert.equal(body.data, "payload");
  });

  it("unknown paths answer 200 with the upstream's name and the path", async () => {
    const response = await httpRequest({ url: `${httpbin.url}/api/catalog?x=1` });
    assert.equal(response.status, 200);
    assert.deepEqual(JSON.parse(response.body), { upstream: "catalog-v1", path: "/api/catalog" });
  });

  it("counts hits per path (query ignored) and records requests; resetHits clears both", async () => {
    httpbin.resetHits();
    await httpRequest({ url: `${httpbin.url}/status/500` });
    await httpRequest({ url: `${httpbin.url}/status/500?again=1` });
    await httpRequest({ url: `${httpbin.url}/headers`, headers: { "x-marker": "m1" } });
    assert.equal(httpbin.hits("/status/500"), 2);
    assert.equal(httpbin.hits("/headers"), 1);
    assert.equal(httpbin.hits("/never"), 0);
    assert.equal(httpbin.totalHits(), 3);
    assert.deepEqual(
      httpbin.requests.map((request) => [request.method, request.path]),
      [
        ["GET", "/status/500"],
        ["GET", "/status/500"],
        ["GET", "/headers"],
      ],
    );
    assert.equal(httpbin.requests[2]?.headers["x-marker"], "m1");
    httpbin.resetHits();
    assert.equal(httpbin.totalHits(), 0);
    assert.equal(httpbin.requests.length, 0);
  });

  it("speaks prior-knowledge HTTP/2 only when asked: a plain HTTP/1 server refuses h2c", async () => {
    await assert.rejects(httpRequest({ url: `${httpbin.url}/headers`, http2: true, timeoutMs: 2000 }));
  });

  it("listens on the requested loopback address and port", async () => {
    const port = await freePort("127.0.0.2");
    const second = await startHttpbin({ host: "127.0.0.2", port, name: "second" });
    try {
      assert.equal(second.port, port);
      const response = await httpRequest({ url: `http://127.0.0.2:${port}/` });
      assert.deepEqual(JSON.parse(response.body), { upstream: "second", path: "/" });
    } finally {
      await second.close();
    }
  });

  it("close() returns promptly even while a /delay request is pending", async () => {
    const slow = await startHttpbin({ name: "slow" });
    const pending = httpRequest({ url: `${slow.url}/delay/5`, timeoutMs: 8000 });
    await waitFor(() => slow.hits("/delay/5") === 1, { what: "the delayed request to arrive" });
    const started = Date.now();
    await slow.close();
    assert.ok(Date.now() - started < 1000, "close waited for the delayed request");
    await assert.rejects(pending);
  });
});

describe("TCP echo upstream", () => {
  let echo: TcpEcho;
  before(async () => {
    echo = await startTcpEcho({ name: "tcp-echo-1" });
  });
  after(() => echo.close());

  it("greets like the book's tcp-echo-server, then echoes every byte", async () => {
    const received = await tcpExchange("127.0.0.1", echo.port, "hello world\n");
    assert.equal(received, "Welcome, you are connected to node tcp-echo-1.\r\nhello world\n");
    assert.equal(echo.connections(), 1);
  });

  it("takes a custom greeting, or none", async () => {
    const custom = await startTcpEcho({ greeting: "hi\n" });
    const silent = await startTcpEcho({ greeting: "" });
    try {
      assert.equal(await tcpExchange("127.0.0.1", custom.port, "x"), "hi\nx");
      assert.equal(await tcpExchange("127.0.0.1", silent.port, "abc"), "abc");
    } finally {
      await Promise.all([custom.close(), silent.close()]);
    }
  });
});
