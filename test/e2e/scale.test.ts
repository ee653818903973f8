/**
 * The compact durable record on a real kubelet (ADR 0018), small enough for CI: bench/scale.ts's
 * scenario with 250 services (5 routes each: `-rds` ~1.1 MB plain, over Kubernetes' 1 MiB) and 10
 * TLS hosts, in agent mode with 2 gateway replicas on a node whose `fs.inotify.max_user_instances`
 * is 128. Both pods serve every host over HTTP and HTTPS/SNI; `-rds` is published gzip-compressed
 * (binaryData); the operator stopped, a deleted pod's replacement serves every host from the
 * objects kubelet projected. The 1,000-service, 100-TLS-host figures come from the bench itself.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runScale } from "../../bench/scale.js";

describe("scale in agent mode on the bench's node: -rds over 1 MiB published compressed, served by both replicas and by a pod started without the operator", { timeout: 1_800_000 }, () => {
  it("250 services and 10 TLS hosts", async () => {
    const result = await runScale({ services: 250, tlsHosts: 10 });
    for (const [what, figure] of result.rows) console.log(`# ${what}: ${figure}`);
    const rds = result.objects.find((object) => object.name === "pilotfish-istio-ingressgateway-rds");
    assert.ok(rds, "-rds published");
    assert.ok(rds.keys.some((key) => key.endsWith(".yaml.gz")), `-rds holds gzip keys: ${rds.keys.join(", ")}`);
    assert.ok(rds.bytes < 1024 * 1024);
    assert.match(result.replacementStart, /^serving \/etc\/pilotfish\/proxy \(start\): \d+ CDS/, "the replacement's agent served the mounted objects at start");
  });
});
