import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import yaml from "js-yaml";
import { printEnvoyLogOnFailure, startEnvoy, validateEnvoyConfig } from "../support/envoy.js";
import type { Bootstrap, Envoy } from "../support/envoy.js";
import { labPath, labsSkip } from "../support/labs.js";
import { freePort, httpRequest, waitFor } from "../support/net.js";
import { startHttpbin } from "../support/upstreams/index.js";
import type { Httpbin } from "../support/upstreams/index.js";

/**
 * The book's chapter-3 Envoy configs (seed 000, lab L12 at the Envoy level), run unchanged
 * except for where they listen and where httpbin is: the listener moves from 0.0.0.0:15001 to a
 * free loopback port, the cluster's endpoint from httpbin:8000 to the local httpbin, and admin to
 * a free port (startEnvoy does that).
 *
 * One more change is forced by Envoy itself: the book's `http_filters: [{name:
 * envoy.filters.http.router}]` has no typed_config, and Envoy ≥ 1.2x no longer finds extensions by
 * name alone (the first test pins this). The router is given its (empty) typed config, nothing else.
 */

const ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

type Json = Record<string, unknown>;

function object(value: unknown, what: string): Json {
  assert.ok(value !== null && typeof value === "object" && !Array.isArray(value), `${what} is not an object`);
  return value as Json;
}

function list(value: unknown, what: string): Json[] {
  assert.ok(Array.isArray(value), `${what} is not a list`);
  return value.map((item, index) => object(item, `${what}[${index}]`));
}

function loadLab(file: string): Bootstrap {
  return object(yaml.load(readFileSync(labPath("ch3", file), "utf8")), file);
}

/** The lab config pointed at the local httpbin and a free loopback listener port. */
function localised(file: string, httpbin: Httpbin, listenerPort: number): Bootstrap {
  const bootstrap = loadLab(file);
  const resources = object(bootstrap.static_resources, "static_resources");
  const [listener] = list(resources.listeners, "listeners");
  assert.ok(listener, `${file} has no listener`);
  listener.address = { socket_address: { address: "127.0.0.1", port_value: listenerPort } };
  for (const chain of list(listener.filter_chains, "filter_chains")) {
    for (const filter of list(chain.filters, "filters")) {
      const manager = object(filter.typed_config, "http_connection_manager typed_config");
      for (const httpFilter of list(manager.http_filters, "http_filters")) {
        if (httpFilter.name === "envoy.filters.http.router" && httpFilter.typed_config === undefined) {
          httpFilter.typed_config = { "@type": ROUTER_TYPE };
        }
      }
    }
  }
  const [cluster] = list(resources.clusters, "clusters");
  assert.equal(cluster?.name, "httpbin_service");
  const [locality] = list(object(cluster.load_assignment, "load_assignment").endpoints, "endpoints");
  const [lbEndpoint] = list(locality?.lb_endpoints, "lb_endpoints");
  const endpoint = object(lbEndpoint?.endpoint, "endpoint");
  endpoint.address = { socket_address: { address: httpbin.host, port_value: httpbin.port } };
  return bootstrap;
}

const LAB_FILES = ["simple.yaml", "simple_change_timeout.yaml", "simple_retry.yaml"] as const;

describe("chapter 3: Envoy in front of httpbin (seed 000, lab L12)", { skip: labsSkip() }, () => {
  let httpbin: Httpbin;
  before(async () => {
    httpbin = await startHttpbin({ name: "httpbin" });
  });
  after(() => httpbin?.close());

  describe("envoy --mode validate", () => {
    for (const file of LAB_FILES) {
      it(`${file} as the book wrote it is rejected only for the router filter's missing typed_config`, async () => {
        const result = await validateEnvoyConfig(labPath("ch3", file));
        assert.equal(result.ok, false, result.output);
        assert.match(result.output, /Didn't find a registered implementation for 'envoy\.filters\.http\.router' with type URL: ''/);
      });

      it(`${file} pointed at the local httpbin, router typed, is valid`, async () => {
        const result = await validateEnvoyConfig(localised(file, httpbin, 15001));
        assert.equal(result.ok, true, result.output);
      });
    }
  });

  describe("simple.yaml", () => {
    let envoy: Envoy | undefined;
    let listener: string;
    before(async () => {
      const port = await freePort();
      listener = `http://127.0.0.1:${port}`;
      envoy = await startEnvoy({ bootstrap: localised("simple.yaml", httpbin, port), name: "ch3-simple" });
    });
    after(() => envoy?.stop());
    printEnvoyLogOnFailure(() => [envoy]);

    it("proxies to httpbin, adding x-envoy-expected-rq-timeout-ms (15 s default) and x-request-id", async (t) => {
      t.diagnostic(`Envoy ready in ${envoy?.startupMs} ms`);
      httpbin.resetHits();
      const response = await httpRequest({ url: `${listener}/headers` });
      assert.equal(response.status, 200);
      assert.equal(response.headers["x-upstream"], "httpbin");
      assert.equal(httpbin.hits("/headers"), 1);
      const received = httpbin.requests[0]?.headers ?? {};
      assert.equal(received["x-envoy-expected-rq-timeout-ms"], "15000");
      assert.match(String(received["x-request-id"]), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      // The book reads them from httpbin's echo, as a user with curl would.
      const echoed = (JSON.parse(response.body) as { headers: Record<string, string> }).headers;
      assert.equal(echoed["x-envoy-expected-rq-timeout-ms"], "15000");
      assert.equal(echoed["x-request-id"], received["x-request-id"]);
    });

    it("the admin API shows the listener and the cluster pointing at httpbin", async () => {
      assert.ok(envoy);
      const listeners = await envoy.listeners();
      assert.deepEqual(listeners.listener_statuses?.map((status) => status.name), ["httpbin-demo"]);
      const clusters = await envoy.clusters();
      const cluster = clusters.cluster_statuses?.find((status) => status.name === "httpbin_service");
      assert.equal(cluster?.host_statuses?.[0]?.address?.socket_address?.port_value, httpbin.port);
      const dump = await envoy.configDump();
      assert.ok(dump.configs.some((config) => config["@type"].endsWith("ListenersConfigDump")));
    });
  });

  describe("simple_change_timeout.yaml (route timeout: 1s)", () => {
    let envoy: Envoy | undefined;
    let listener: string;
    before(async () => {
      const port = await freePort();
      listener = `http://127.0.0.1:${port}`;
      envoy = await startEnvoy({ bootstrap: localised("simple_change_timeout.yaml", httpbin, port), name: "ch3-timeout" });
    });
    after(() => envoy?.stop());
    printEnvoyLogOnFailure(() => [envoy]);

    it("tells the upstream x-envoy-expected-rq-timeout-ms: 1000", async () => {
      const response = await httpRequest({ url: `${listener}/headers` });
      assert.equal(response.status, 200);
      const echoed = (JSON.parse(response.body) as { headers: Record<string, string> }).headers;
      assert.equal(echoed["x-envoy-expected-rq-timeout-ms"], "1000");
    });

    it("/delay/0.5 → 200", async () => {
      const response = await httpRequest({ url: `${listener}/delay/0.5` });
      assert.equal(response.status, 200);
    });

    it("/delay/1 → 504 'upstream request timeout' after about 1 s", async () => {
      assert.ok(envoy);
      const before = (await envoy.stat("cluster.httpbin_service.upstream_rq_timeout")) ?? 0;
      const started = Date.now();
      const response = await httpRequest({ url: `${listener}/delay/1` });
      const elapsed = Date.now() - started;
      assert.equal(response.status, 504);
      assert.equal(response.body, "upstream request timeout");
      assert.ok(elapsed >= 950 && elapsed < 3000, `504 after ${elapsed} ms`);
      assert.equal(await envoy.stat("cluster.httpbin_service.upstream_rq_timeout"), before + 1);
    });
  });

  describe("simple_retry.yaml (retry_on: 5xx, num_retries: 3)", () => {
    let envoy: Envoy | undefined;
    let listener: string;
    before(async () => {
      const port = await freePort();
      listener = `http://127.0.0.1:${port}`;
      envoy = await startEnvoy({ bootstrap: localised("simple_retry.yaml", httpbin, port), name: "ch3-retry" });
    });
    after(() => envoy?.stop());
    printEnvoyLogOnFailure(() => [envoy]);

    it("/status/500 reaches the upstream 4 times and upstream_rq_retry is 3", async () => {
      assert.ok(envoy);
      assert.equal(await envoy.stat("cluster.httpbin_service.upstream_rq_retry"), 0);
      httpbin.resetHits();
      const response = await httpRequest({ url: `${listener}/status/500` });
      assert.equal(response.status, 500);
      assert.equal(httpbin.hits("/status/500"), 4);
      const retries = await waitFor(
        async () => {
          const value = await envoy?.stat("cluster.httpbin_service.upstream_rq_retry");
          return value !== undefined && value >= 3 ? value : undefined;
        },
        { timeoutMs: 5000, what: "cluster.httpbin_service.upstream_rq_retry to reach 3" },
      );
      assert.equal(retries, 3);
      assert.equal(await envoy.stat("cluster.httpbin_service.upstream_rq_retry_limit_exceeded"), 1);
    });

    it("a 200 is not retried", async () => {
      httpbin.resetHits();
      const response = await httpRequest({ url: `${listener}/status/200` });
      assert.equal(response.status, 200);
      assert.equal(httpbin.hits("/status/200"), 1);
    });
  });
});
