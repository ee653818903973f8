/**
 * Reaching a port inside a pod through the Kubernetes API (kubectl port-forward's mechanism,
 * client-node's PortForward): proxy-config, proxy-status and explain use it to read a gateway's
 * Envoy admin or the operator's debug endpoint in a cluster. A pod is named like istioctl does:
 * `pod.namespace`, or `deploy/name.namespace` for a Running pod of that Deployment.
 */
import net from "node:net";
import { PortForward } from "@kubernetes/client-node";
import { KubeRest } from "../sources/kube/rest.js";
import type { KubeObject } from "../sources/kube/rest.js";
import { loadKubeConfig } from "./commands/operator.js";
import type { Progress } from "./progress.js";

export interface PodTarget {
  namespace: string;
  /** A pod name, or a Deployment name when `deployment` is true. */
  name: string;
  deployment: boolean;
}

/** "deploy/istio-ingressgateway.istio-system", "pod-abc.ns", "pod-abc" (default namespace). */
export function parsePodTarget(text: string, defaultNamespace: string): PodTarget {
  const deployment = /^(deploy|deployment|deployments)\//.test(text);
  const rest = deployment ? text.slice(text.indexOf("/") + 1) : text;
  const dot = rest.indexOf(".");
  const name = dot < 0 ? rest : rest.slice(0, dot);
  const namespace = dot < 0 ? defaultNamespace : rest.slice(dot + 1);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace)) {
    throw new Error(`${text}: expected pod.namespace or deploy/name.namespace (e.g. deploy/istio-ingressgateway.istio-system)`);
  }
  return { namespace, name, deployment };
}

type PodObject = KubeObject & { status?: { phase?: string } };

/** The Running pods of a Deployment (sorted by name), or the named pod. */
async function podNames(rest: KubeRest, target: PodTarget): Promise<string[]> {
  if (!target.deployment) return [target.name];
  const deployment = await rest.get<KubeObject & { spec?: { selector?: { matchLabels?: Record<string, string> } } }>(`/apis/apps/v1/namespaces/${target.namespace}/deployments/${target.name}`);
  if (!deployment) throw new Error(`Deployment ${target.namespace}/${target.name} not found`);
  const labels = deployment.spec?.selector?.matchLabels ?? {};
  const selector = Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(",");
  const pods = await rest.list<PodObject>(`/api/v1/namespaces/${target.namespace}/pods`, { labelSelector: selector });
  const running = pods.items
    .filter((pod) => pod.status?.phase === "Running")
    .map((pod) => pod.metadata?.name)
    .filter((name): name is string => name !== undefined)
    .sort();
  if (running.length === 0) throw new Error(`Deployment ${target.namespace}/${target.name} has no Running pod (${pods.items.length} pod(s) match ${selector})`);
  return running;
}

/** The Running pods behind TARGET: every replica of a Deployment, or the one named pod. */
export async function runningPods(kubeconfig: string | undefined, target: PodTarget): Promise<string[]> {
  const { config } = loadKubeConfig(kubeconfig);
  return podNames(new KubeRest(config), target);
}

export interface Forwarded {
  /** 127.0.0.1:<local port> */
  address: string;
  close(): Promise<void>;
}

/** A local loopback port forwarded to `port` in the target pod (a Deployment's first Running pod), until close(). */
export async function forwardToPod(kubeconfig: string | undefined, target: PodTarget, port: number, progress?: Progress): Promise<Forwarded> {
  const { config } = loadKubeConfig(kubeconfig);
  const rest = new KubeRest(config);
  if (target.deployment) progress?.phase(`finding a Running pod of Deployment ${target.namespace}/${target.name}`);
  const pod = (await podNames(rest, target))[0] ?? target.name;
  progress?.phase(`port-forward to ${target.namespace}/${pod}:${port} through the Kubernetes API`);
  if (!(await rest.get(`/api/v1/namespaces/${target.namespace}/pods/${pod}`))) throw new Error(`pod ${target.namespace}/${pod} not found`);
  const forward = new PortForward(config, true);
  const sockets = new Set<net.Socket>();
  // Each forwarded connection is a WebSocket to the apiserver; left open it keeps the CLI alive.
  const webSockets = new Set<{ close(): void }>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    forward
      .portForward(target.namespace, pod, [port], socket, null, socket)
      .then((opened) => {
        const webSocket = typeof opened === "function" ? opened() : opened;
        if (!webSocket) return;
        webSockets.add(webSocket);
        socket.on("close", () => {
          webSocket.close();
          webSockets.delete(webSocket);
        });
      })
      .catch((error: unknown) => {
        socket.destroy(error instanceof Error ? error : new Error(String(error)));
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port: local } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${local}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        for (const webSocket of webSockets) webSocket.close();
        server.close(() => resolve());
      }),
  };
}
