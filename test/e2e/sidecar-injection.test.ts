/**
 * Sidecar injection on the bench's real node (lab L11; docs/injection.md). The operator runs on
 * the host under config/rbac's ServiceAccount with its webhook on 127.0.0.1 (the apiserver runs
 * on the host, so it reaches it); config/webhook's two configurations are applied as shipped
 * except clientConfig (a url instead of the in-cluster Service) and get their caBundle from the
 * operator. Everything after that is the apiserver calling /inject and /validate, the kubelet
 * running istio-init's rules and the injected Envoy carrying real connections.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { dump, load } from "js-yaml";
import { captureRules, defaultCapture } from "../../src/webhook/inject/iptables.js";
import { startCluster, printClusterStateOnFailure } from "../support/cluster.js";
import { installCrds } from "../support/crds.js";
import type { Cluster } from "../support/cluster.js";
import { freePort, waitFor } from "../support/net.js";
import { repoRoot } from "../support/paths.js";
import { operatorKubeconfig } from "../integration/operator/support/identity.js";
import { startOperator } from "../integration/operator/support/operator-process.js";
import type { OperatorProcess } from "../integration/operator/support/operator-process.js";
import { inPodNetns, podPid } from "./support/pod-netns.js";

const mesh = "mesh"; // istio-injection=enabled
const plain = "plain"; // no label

interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: Record<string, Record<string, string>> }>;
  ports?: Array<{ containerPort: number; name?: string; protocol?: string }>;
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
  readinessProbe?: Record<string, unknown>;
  startupProbe?: Record<string, unknown>;
  securityContext?: Record<string, unknown>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface Pod {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { initContainers?: Container[]; containers: Container[]; volumes?: Array<{ name: string } & Record<string, unknown>> };
  status: { podIP?: string; qosClass?: string; conditions?: Array<{ type: string; status: string }> };
}
interface WebhookConfiguration {
  metadata: { name: string };
  webhooks: Array<{ name: string; failurePolicy: string; clientConfig: { url?: string; service?: unknown; caBundle?: string } }>;
}

describe("sidecar injection on the bench's node (L11)", () => {
  let cluster: Cluster;
  let operator: OperatorProcess | undefined;
  let work: string;
  let operatorConfig: string;
  let webhookPort: number;

  const kubectl = (args: readonly string[], namespace?: string, input?: string): Promise<string> =>
    cluster.kubectlOk(args, { ...(namespace ? { namespace } : {}), ...(input === undefined ? {} : { input }) });
  const getPod = async (namespace: string, name: string): Promise<Pod> => JSON.parse(await kubectl(["get", "pod", name, "-o", "json"], namespace)) as Pod;
  const podsOf = async (namespace: string, app: string): Promise<Pod[]> =>
    (JSON.parse(await kubectl(["get", "pods", "-l", `app=${app}`, "-o", "json"], namespace)) as { items: Pod[] }).items;
  const names = (containers: Container[] | undefined): string[] => (containers ?? []).map((container) => container.name);
  const envOf = (container: Container | undefined): Record<string, string> =>
    Object.fromEntries((container?.env ?? []).map((item) => [item.name, item.value ?? JSON.stringify(item.valueFrom)]));
  /** The pod the apiserver would store for `kubectl run` in a namespace (server-side dry run: the whole admission chain, nothing stored). */
  const dryRunPod = async (namespace: string, extra: string[] = []): Promise<Pod> =>
    JSON.parse(await kubectl(["run", "probe", `--image=${cluster.images["test-upstream"]}`, "--restart=Never", "--dry-run=server", "-o", "json", ...extra], namespace)) as Pod;
  const execNode = (namespace: string, pod: string, script: string): Promise<string> =>
    kubectl(["exec", pod, "-c", "app", "--", "/usr/local/bin/node", "-e", script], namespace);

  const startTheOperator = async (): Promise<OperatorProcess> =>
    startOperator({
      kubeconfig: operatorConfig,
      proxyConfigDir: "/etc/pilotfish/proxy",
      proxyAdminPort: await freePort(),
      proxyStatusPort: await freePort(),
      name: "pilotfish-operator-webhook",
      extraArgs: [
        "--webhook-addr", `127.0.0.1:${webhookPort}`,
        "--webhook-cert-hosts", "127.0.0.1",
        "--proxy-image", cluster.images.proxy ?? "",
        "--proxy-init-image", cluster.images["proxy-init"] ?? "",
      ],
    });

  /** config/webhook's configurations, pointed at the operator on the host instead of the Service. */
  const webhookManifests = (): string =>
    ["mutating.yaml", "validating.yaml"]
      .map((file) => {
        const configuration = load(readFileSync(join(repoRoot, "config", "webhook", file), "utf8")) as WebhookConfiguration;
        for (const webhook of configuration.webhooks) {
          const path = (webhook.clientConfig.service as { path: string }).path;
          webhook.clientConfig = { url: `https://127.0.0.1:${webhookPort}${path}` };
        }
        return dump(configuration);
      })
      .join("---\n");
  const configuration = async (kind: string, name: string): Promise<WebhookConfiguration> => JSON.parse(await kubectl(["get", kind, name, "-o", "json"])) as WebhookConfiguration;

  const deployment = (name: string, extraLabels: Record<string, string> = {}): object => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, ...extraLabels } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [{
            name: "app",
            image: cluster.images["test-upstream"],
            args: ["httpbin", "0.0.0.0", "8080", "$(POD_NAME)"],
            env: [{ name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }],
            ports: [{ containerPort: 8080 }],
            readinessProbe: { httpGet: { path: "/status/200", port: 8080 }, periodSeconds: 1 },
          }],
        },
      },
    },
  });

  before(async () => {
    cluster = await startCluster({ images: ["proxy", "proxy-init", "test-upstream"] });
    console.log(`# node ${cluster.nodeIp} up in ${cluster.startupMs} ms`);
    work = mkdtempSync(join(tmpdir(), "pilotfish-e2e-injection-"));
    await installCrds(cluster);
    operatorConfig = await operatorKubeconfig(cluster, work); // applies config/rbac
    webhookPort = await freePort();
    await kubectl(["apply", "-f", "-"], undefined, webhookManifests());
    await kubectl(["create", "namespace", mesh]);
    await kubectl(["label", "namespace", mesh, "istio-injection=enabled"]);
    await kubectl(["create", "namespace", plain]);
    for (const namespace of [mesh, plain]) {
      await waitFor(async () => (await cluster.kubectl(["get", "serviceaccount", "default"], { namespace })).code === 0, { timeoutMs: 30_000, what: `${namespace}'s default ServiceAccount` });
    }
    operator = await startTheOperator();
  });

  after(async () => {
    await operator?.stop();
    if (cluster) {
      await cluster.kubectl(["delete", "mutatingwebhookconfiguration", "pilotfish-sidecar-injector", "--ignore-not-found"]);
      await cluster.kubectl(["delete", "validatingwebhookconfiguration", "pilotfish-validator", "--ignore-not-found"]);
      await cluster.stop();
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  printClusterStateOnFailure(() => cluster, () => [mesh, plain, "istio-system"]);
  afterEach((context) => {
    if ((context as { passed?: boolean }).passed !== false || !operator) return;
    process.stderr.write(`----- operator (last 60 lines) -----\n${operator.process.output.text().split("\n").slice(-60).join("\n")}\n`);
  });

  it("creates its CA Secret and patches caBundle, and only caBundle, into both configurations", async () => {
    const secret = JSON.parse(await kubectl(["get", "secret", "pilotfish-webhook-ca", "-o", "json"], "istio-system")) as { data: Record<string, string> };
    const caBundle = secret.data["ca-cert.pem"];
    assert.ok(caBundle && secret.data["ca-key.pem"], "the Secret holds the CA certificate and key");
    for (const [kind, name] of [["mutatingwebhookconfiguration", "pilotfish-sidecar-injector"], ["validatingwebhookconfiguration", "pilotfish-validator"]] as const) {
      const current = await waitFor(async (): Promise<WebhookConfiguration | undefined> => {
        const found = await configuration(kind, name);
        return found.webhooks.every((webhook) => webhook.clientConfig.caBundle === caBundle) ? found : undefined;
      }, { timeoutMs: 30_000, what: `caBundle in ${kind} ${name}` });
      const shipped = load(readFileSync(join(repoRoot, "config", "webhook", kind.startsWith("mutating") ? "mutating.yaml" : "validating.yaml"), "utf8")) as WebhookConfiguration;
      assert.deepEqual(current.webhooks.map((webhook) => [webhook.name, webhook.failurePolicy]), shipped.webhooks.map((webhook) => [webhook.name, webhook.failurePolicy]));
    }
    // The apiserver reads webhook configurations through an informer: wait until it injects.
    await waitFor(async () => names((await dryRunPod(mesh)).spec.containers).includes("istio-proxy"), { timeoutMs: 30_000, intervalMs: 500, what: "a dry-run pod in the mesh namespace being injected" });
  });

  it("injects a Deployment's pod in an istio-injection=enabled namespace, which becomes Ready; not in an unlabelled one", async () => {
    await kubectl(["apply", "-f", "-"], mesh, dump(deployment("web")));
    await kubectl(["apply", "-f", "-"], plain, dump(deployment("echo")));
    const started = Date.now();
    await kubectl(["rollout", "status", "deployment/web", "--timeout=120s"], mesh);
    console.log(`# injected pod Ready (istio-init ran, istio-proxy passed its startup and readiness probes) ${Date.now() - started} ms after apply`);
    await kubectl(["rollout", "status", "deployment/echo", "--timeout=120s"], plain);
    const [web] = await podsOf(mesh, "web");
    assert.ok(web);
    assert.deepEqual(names(web.spec.initContainers), ["istio-init"]);
    assert.deepEqual(names(web.spec.containers), ["app", "istio-proxy"]);
    assert.equal(web.status.conditions?.find((condition) => condition.type === "Ready")?.status, "True");
    const [echo] = await podsOf(plain, "echo");
    assert.deepEqual(names(echo?.spec.initContainers), []);
    assert.deepEqual(names(echo?.spec.containers), ["app"]);
  });

  it("opts out by the pod label (the webhook is not even called) or the annotation; the label wins over the annotation", async () => {
    const labelOff = await dryRunPod(mesh, ["--labels=sidecar.istio.io/inject=false"]);
    assert.deepEqual(names(labelOff.spec.containers), ["probe"]);
    const annotationOff = await dryRunPod(mesh, ["--annotations=sidecar.istio.io/inject=false"]);
    assert.deepEqual(names(annotationOff.spec.containers), ["probe"]);
    const labelWins = await dryRunPod(mesh, ["--labels=sidecar.istio.io/inject=true", "--annotations=sidecar.istio.io/inject=false"]);
    assert.deepEqual(names(labelWins.spec.containers), ["probe", "istio-proxy"]);
    const optIn = await dryRunPod(plain, ["--labels=sidecar.istio.io/inject=true"]);
    assert.deepEqual(names(optIn.spec.containers), ["probe", "istio-proxy"], "a pod label opts in where the namespace has no label");
  });

  it("injects nothing twice: an injected pod's spec created again comes out the same", async () => {
    const [web] = await podsOf(mesh, "web");
    assert.ok(web);
    const copy = {
      apiVersion: "v1",
      kind: "Pod",
      // app changed so that the ReplicaSet does not adopt (and delete) the copy.
      metadata: { name: "web-copy", labels: { ...web.metadata.labels, app: "web-copy" }, annotations: web.metadata.annotations },
      spec: { ...web.spec, nodeName: undefined },
    };
    await kubectl(["create", "-f", "-"], mesh, JSON.stringify(copy));
    const stored = await getPod(mesh, "web-copy");
    assert.deepEqual(names(stored.spec.initContainers), ["istio-init"]);
    assert.deepEqual(names(stored.spec.containers), ["app", "istio-proxy"]);
    // The same containers, but for the workload: a bare pod is its own (Istio's rule).
    const ownWorkload = (containers: Container[]): Container[] =>
      containers.map((container) => ({ ...container, env: container.env?.filter((item) => !["ISTIO_META_WORKLOAD_NAME", "ISTIO_META_OWNER"].includes(item.name)) }));
    assert.deepEqual(ownWorkload(stored.spec.containers), ownWorkload(web.spec.containers));
    assert.equal(envOf(stored.spec.containers[1]).ISTIO_META_WORKLOAD_NAME, "web-copy");
    assert.deepEqual(stored.spec.initContainers, web.spec.initContainers);
    assert.deepEqual(stored.spec.volumes?.map((volume) => volume.name), web.spec.volumes?.map((volume) => volume.name));
    assert.equal(stored.metadata.annotations?.["sidecar.istio.io/status"], web.metadata.annotations?.["sidecar.istio.io/status"]);
    await kubectl(["delete", "pod", "web-copy", "--wait=false"], mesh);
  });

  it("istio-init's rules are in the pod's network namespace, and the host's are untouched", async () => {
    const [web] = await podsOf(mesh, "web");
    assert.ok(web);
    const pid = await podPid(cluster, mesh, web.metadata.name, "app");
    const saved = inPodNetns(pid, "iptables-save", ["-t", "nat"]).split("\n");
    const expected = captureRules(defaultCapture).split("\n").filter((line) => line.startsWith("-A") || line.startsWith(":ISTIO"));
    for (const rule of expected) {
      const found = rule.startsWith(":") ? saved.some((line) => line.startsWith(rule.split(" ")[0] ?? rule)) : saved.includes(rule);
      assert.ok(found, `${rule} in the pod's nat table:\n${saved.join("\n")}`);
    }
    const rulesInOrder = saved.filter((line) => line.startsWith("-A"));
    assert.deepEqual(rulesInOrder, expected.filter((line) => line.startsWith("-A")), "exactly the generated rules, in iptables-save's order and spelling");
    const host = inPodNetns(String(process.pid), "iptables-save", ["-t", "nat"]);
    assert.doesNotMatch(host, /ISTIO_/);
  });

  it("redirects the app's outbound TCP to the sidecar's 15001 and inbound TCP to 15006 (passthrough to the original destination)", async () => {
    const [web] = await podsOf(mesh, "web");
    const [echo] = await podsOf(plain, "echo");
    assert.ok(web && echo && echo.status.podIP && web.status.podIP);
    // Outbound: the mesh app calls the plain pod by IP; the answer comes back through Envoy.
    const answeredBy = await execNode(mesh, web.metadata.name, `fetch('http://${echo.status.podIP}:8080/whoami').then(r=>process.stdout.write(r.headers.get('x-upstream')))`);
    assert.equal(answeredBy, echo.metadata.name);
    const outboundLine = await waitFor(async () => {
      const log = await kubectl(["logs", web.metadata.name, "-c", "istio-proxy"], mesh);
      return log.split("\n").find((line) => line.includes("listener=virtualOutbound") && line.includes(`${echo.status.podIP}:8080`));
    }, { timeoutMs: 20_000, intervalMs: 500, what: "the sidecar's access log line for the outbound connection" });
    assert.match(outboundLine, /PassthroughCluster/);
    // Inbound: the plain pod calls the mesh pod; the sidecar's virtualInbound carries it to the app.
    const inboundAnswer = await execNode(plain, echo.metadata.name, `fetch('http://${web.status.podIP}:8080/whoami').then(r=>process.stdout.write(r.headers.get('x-upstream')))`);
    assert.equal(inboundAnswer, web.metadata.name);
    const inboundLine = await waitFor(async () => {
      const log = await kubectl(["logs", web.metadata.name, "-c", "istio-proxy"], mesh);
      return log.split("\n").find((line) => line.includes("listener=virtualInbound") && line.includes(`${echo.status.podIP}:`));
    }, { timeoutMs: 20_000, intervalMs: 500, what: "the sidecar's access log line for the inbound connection" });
    assert.match(inboundLine, /InboundPassthroughCluster 127\.0\.0\.6:\d+ /, "Envoy reached the app from 127.0.0.6, which the rules let through");
    // Excluded inbound port: the status port answers without going through virtualInbound.
    const status = await execNode(plain, echo.metadata.name, `fetch('http://${web.status.podIP}:15021/healthz/ready').then(r=>process.stdout.write(String(r.status)))`);
    assert.equal(status, "200");
  });

  it("does not capture the proxy uid's traffic nor an excluded outbound port (traffic.sidecar.istio.io/excludeOutboundPorts)", async () => {
    const [echo] = await podsOf(plain, "echo");
    const [web] = await podsOf(mesh, "web");
    assert.ok(echo?.status.podIP && web?.status.podIP);
    const pod = (name: string, extra: { annotations?: Record<string, string>; runAsUser?: number }): object => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, labels: { app: name }, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [{
          name: "app",
          image: cluster.images["test-upstream"],
          args: ["httpbin", "0.0.0.0", "8080", name],
          ...(extra.runAsUser ? { securityContext: { runAsUser: extra.runAsUser, runAsGroup: extra.runAsUser } } : {}),
        }],
      },
    });
    await kubectl(["apply", "-f", "-"], mesh, [pod("as-proxy-uid", { runAsUser: 1337 }), pod("excludes-8080", { annotations: { "traffic.sidecar.istio.io/excludeOutboundPorts": "8080" } })].map((doc) => dump(doc)).join("---\n"));
    await kubectl(["wait", "--for=condition=Ready", "pod/as-proxy-uid", "pod/excludes-8080", "--timeout=120s"], mesh);
    const fetchUpstream = (from: string, url: string): Promise<string> => execNode(mesh, from, `fetch('${url}').then(r=>process.stdout.write(r.headers.get('x-upstream')))`);
    const proxyLog = (name: string): Promise<string> => kubectl(["logs", name, "-c", "istio-proxy"], mesh);

    // uid 1337: the call reaches echo without the sidecar; a later inbound call is logged, the outbound one never was.
    assert.equal(await fetchUpstream("as-proxy-uid", `http://${echo.status.podIP}:8080/whoami`), echo.metadata.name);
    const asProxy = (await getPod(mesh, "as-proxy-uid")).status.podIP ?? "";
    assert.equal(await execNode(plain, echo.metadata.name, `fetch('http://${asProxy}:8080/whoami').then(r=>process.stdout.write(r.headers.get('x-upstream')))`), "as-proxy-uid");
    const uidLog = await waitFor(async () => {
      const log = await proxyLog("as-proxy-uid");
      return log.includes("listener=virtualInbound") ? log : undefined;
    }, { timeoutMs: 20_000, intervalMs: 500, what: "the inbound call in the uid-1337 pod's sidecar log" });
    assert.doesNotMatch(uidLog, /listener=virtualOutbound/, "nothing the uid-1337 app sent went through the sidecar");

    // Excluded port 8080: not captured; a call to another port (web's 15021) is, and is logged after it.
    assert.equal(await fetchUpstream("excludes-8080", `http://${echo.status.podIP}:8080/whoami`), echo.metadata.name);
    assert.equal(await execNode(mesh, "excludes-8080", `fetch('http://${web.status.podIP}:15021/healthz/ready').then(r=>process.stdout.write(String(r.status)))`), "200");
    const excludedLog = await waitFor(async () => {
      const log = await proxyLog("excludes-8080");
      return log.includes(`${web.status.podIP}:15021`) ? log : undefined;
    }, { timeoutMs: 20_000, intervalMs: 500, what: "the captured call to :15021 in the sidecar log" }).catch(async (error: unknown) => {
      throw new Error(`${(error as Error).message}\n--- excludes-8080 istio-proxy log ---\n${await proxyLog("excludes-8080")}\n--- nat ---\n${inPodNetns(await podPid(cluster, mesh, "excludes-8080", "app"), "iptables-save", ["-t", "nat"])}`);
    });
    assert.doesNotMatch(excludedLog, new RegExp(`${echo.status.podIP.replace(/\./g, "\\.")}:8080`), "the call to the excluded port went around the sidecar");
    const rules = inPodNetns(await podPid(cluster, mesh, "excludes-8080", "app"), "iptables-save", ["-t", "nat"]);
    assert.match(rules, /-A ISTIO_OUTPUT -p tcp -m tcp --dport 8080 -j RETURN/);
  });

  it("stores the fields the seed's injected pod shows (deliberate differences named)", async () => {
    const [web] = await podsOf(mesh, "web");
    assert.ok(web);
    const labels = web.metadata.labels ?? {};
    assert.equal(labels["security.istio.io/tlsMode"], "istio");
    assert.equal(labels["service.istio.io/canonical-name"], "web");
    assert.equal(labels["service.istio.io/canonical-revision"], "latest");
    const annotations = web.metadata.annotations ?? {};
    assert.equal(annotations["istio.io/rev"], "default");
    assert.equal(annotations["kubectl.kubernetes.io/default-container"], "app");
    assert.equal(annotations["kubectl.kubernetes.io/default-logs-container"], "app");
    assert.equal(annotations["prometheus.io/path"], "/stats/prometheus");
    assert.equal(annotations["prometheus.io/port"], "15020");
    assert.equal(annotations["prometheus.io/scrape"], "true");
    const status = JSON.parse(annotations["sidecar.istio.io/status"] ?? "{}") as Record<string, unknown>;
    assert.deepEqual(status.initContainers, ["istio-init"]);
    assert.deepEqual(status.containers, ["istio-proxy"]);
    // Deliberate: only the volumes our proxy uses (no workload-socket, credential-socket,
    // workload-certs, istio-token, istiod-ca-cert: no mesh mTLS/SDS yet).
    assert.deepEqual(status.volumes, ["istio-envoy", "istio-data", "istio-podinfo"]);

    const init = web.spec.initContainers?.[0];
    // Deliberate: istio-init runs `sh -c '... | iptables-restore'` with the generated rules; the
    // seed's istio-iptables arguments are kept, verbatim, in ISTIO_IPTABLES_ARGS.
    assert.equal(envOf(init).ISTIO_IPTABLES_ARGS, "-p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x '' -b '*' -d 15090,15021,15020");
    assert.deepEqual(init?.resources, { limits: { cpu: "2", memory: "1Gi" }, requests: { cpu: "10m", memory: "40Mi" } });
    const proxy = web.spec.containers.find((container) => container.name === "istio-proxy");
    assert.ok(proxy);
    assert.deepEqual(proxy.ports, [{ containerPort: 15090, name: "http-envoy-prom", protocol: "TCP" }]);
    assert.deepEqual(proxy.resources, { limits: { cpu: "2", memory: "1Gi" }, requests: { cpu: "10m", memory: "40Mi" } });
    assert.deepEqual(proxy.readinessProbe, { httpGet: { path: "/healthz/ready", port: 15021, scheme: "HTTP" }, timeoutSeconds: 3, periodSeconds: 15, successThreshold: 1, failureThreshold: 4 });
    assert.deepEqual(proxy.startupProbe, { httpGet: { path: "/healthz/ready", port: 15021, scheme: "HTTP" }, timeoutSeconds: 3, periodSeconds: 1, successThreshold: 1, failureThreshold: 600 });
    // The seed's env minus PILOT_CERT_PROVIDER and CA_ADDR (no istiod CA yet) and GOMEMLIMIT /
    // GOMAXPROCS (pilot-agent's Go runtime; our container runs Envoy directly).
    const seedEnv = ["POD_NAME", "POD_NAMESPACE", "INSTANCE_IP", "SERVICE_ACCOUNT", "HOST_IP", "ISTIO_CPU_LIMIT", "PROXY_CONFIG", "ISTIO_META_POD_PORTS", "ISTIO_META_APP_CONTAINERS", "ISTIO_META_CLUSTER_ID", "ISTIO_META_NODE_NAME", "ISTIO_META_INTERCEPTION_MODE", "ISTIO_META_WORKLOAD_NAME", "ISTIO_META_OWNER", "ISTIO_META_MESH_ID", "TRUST_DOMAIN"];
    assert.deepEqual(Object.keys(envOf(proxy)), seedEnv);
    const env = envOf(proxy);
    assert.equal(env.ISTIO_META_POD_PORTS, '[\n    {"containerPort":8080,"protocol":"TCP"}\n]');
    assert.equal(env.ISTIO_META_APP_CONTAINERS, "app");
    assert.equal(env.ISTIO_META_WORKLOAD_NAME, "web");
    assert.equal(env.ISTIO_META_OWNER, `kubernetes://apis/apps/v1/namespaces/${mesh}/deployments/web`);
    assert.equal(env.ISTIO_META_CLUSTER_ID, "Kubernetes");
    assert.equal(env.ISTIO_META_MESH_ID, "cluster.local");
    assert.deepEqual(proxy.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, privileged: false, readOnlyRootFilesystem: true, runAsGroup: 1337, runAsNonRoot: true, runAsUser: 1337 });
    // The seed's mounts that our proxy uses; the others (credential-uds, istio, tokens,
    // workload-spiffe-*) are the mTLS/SDS volumes left out above.
    assert.deepEqual(proxy.volumeMounts?.filter((mount) => !mount.mountPath.startsWith("/var/run/secrets/kubernetes.io")).map((mount) => mount.mountPath).sort(), ["/etc/istio/pod", "/etc/istio/proxy", "/var/lib/istio/data"]);
    assert.equal(web.status.qosClass, "Burstable");
  });

  it("refuses an invalid VirtualService at kubectl apply with the validator's message", async () => {
    const bad = { apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "bad-regex" }, spec: { hosts: ["web"], http: [{ match: [{ uri: { regex: "/bad(" } }], route: [{ destination: { host: "web" } }] }] } };
    const refused = await cluster.kubectl(["apply", "-f", "-"], { namespace: mesh, input: dump(bad) });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /admission webhook "validation\.istio\.io" denied the request: VirtualService bad-regex: spec\.http\[0\]\.match\[0\]\.uri\.regex: /);
    assert.doesNotMatch(refused.stderr, /denied the request: admission webhook/, "the webhook's name appears once");
    const good = { ...bad, metadata: { name: "good" }, spec: { hosts: ["web"], http: [{ route: [{ destination: { host: "web" } }] }] } };
    await kubectl(["apply", "-f", "-"], mesh, dump(good));
  });

  it("operator stopped: pod creation in an injected namespace is refused (failurePolicy Fail), elsewhere it goes on; Istio resources apply (Ignore); back up: the same CA, injection resumes", async () => {
    const caBefore = (await configuration("mutatingwebhookconfiguration", "pilotfish-sidecar-injector")).webhooks[0]?.clientConfig.caBundle;
    const status = await operator?.stop();
    assert.equal(status?.code, 0);
    operator = undefined;
    const refused = await cluster.kubectl(["run", "while-down", `--image=${cluster.images["test-upstream"]}`, "--restart=Never"], { namespace: mesh });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /failed calling webhook "namespace\.sidecar-injector\.pilotfish\.io"/);
    await kubectl(["run", "while-down", `--image=${cluster.images["test-upstream"]}`, "--restart=Never", "--dry-run=server"], plain);
    const bad = { apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "bad-while-down" }, spec: { hosts: ["web"], http: [{ match: [{ uri: { regex: "/bad(" } }], route: [{ destination: { host: "web" } }] }] } };
    await kubectl(["apply", "-f", "-", "--dry-run=server"], mesh, dump(bad));

    operator = await startTheOperator();
    const caAfter = (await configuration("mutatingwebhookconfiguration", "pilotfish-sidecar-injector")).webhooks[0]?.clientConfig.caBundle;
    assert.equal(caAfter, caBefore, "the restarted operator serves from the same CA (its Secret)");
    const injected = await waitFor(async () => dryRunPod(mesh), { timeoutMs: 30_000, intervalMs: 500, what: "injection after the restart" });
    assert.deepEqual(names(injected.spec.containers), ["probe", "istio-proxy"]);
  });
});
