import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseStats } from "../../support/envoy.js";

describe("parseStats (Envoy admin /stats text)", () => {
  it("reads counters and gauges, skips histograms, keeps names with colons", () => {
    const text = [
      "cluster.httpbin_service.upstream_rq_retry: 3",
      "cluster.outbound|80||webapp.istioinaction.svc.cluster.local.upstream_cx_active: 1",
      "server.live: 1",
      "cluster.httpbin_service.upstream_rq_time: P0(nan,1.0) P25(nan,1.025) P50(nan,1.05)",
      "http.ingress_http.downstream_rq_time: No recorded values",
      "",
    ].join("\n");
    const stats = parseStats(text);
    assert.equal(stats.get("cluster.httpbin_service.upstream_rq_retry"), 3);
    assert.equal(stats.get("cluster.outbound|80||webapp.istioinaction.svc.cluster.local.upstream_cx_active"), 1);
    assert.equal(stats.get("server.live"), 1);
    assert.equal(stats.has("cluster.httpbin_service.upstream_rq_time"), false);
    assert.equal(stats.size, 3);
  });
});
