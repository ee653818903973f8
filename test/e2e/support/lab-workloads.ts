import { dump, loadAll } from "js-yaml";

/**
 * The labs' Deployments run images this machine cannot pull (istioinaction/webapp, catalog...).
 * On the bench their pods run the test upstream image instead, with everything else as the lab
 * wrote it (names, labels, ports, ServiceAccounts, volumes): the httpbin-like server listens on
 * each container's first port and names itself after its pod, so a response says which pod
 * answered. A container configured for TLS the way the labs' fake-service is
 * (TLS_CERT_LOCATION/TLS_KEY_LOCATION) runs the TLS server with that certificate instead, and
 * one configured like the labs' go-echo (TCP_PORT) runs the TCP echo server on that port.
 */
export function withTestUpstreamImage(manifests: string, image: string): string {
  const documents = loadAll(manifests).filter((document): document is Manifest => typeof document === "object" && document !== null);
  for (const document of documents) {
    if (document.kind !== "Deployment") continue;
    const pod = document.spec?.template?.spec;
    if (!pod) continue;
    pod.terminationGracePeriodSeconds = 1;
    for (const container of pod.containers ?? []) {
      const port = container.ports?.[0]?.containerPort ?? 8080;
      container.image = image;
      container.imagePullPolicy = "IfNotPresent";
      delete container.command;
      const setting = (name: string): string | undefined => container.env?.find((variable) => variable.name === name)?.value;
      const cert = setting("TLS_CERT_LOCATION");
      const key = setting("TLS_KEY_LOCATION");
      const tcpPort = setting("TCP_PORT");
      if (tcpPort) {
        container.args = ["tcp-echo", "0.0.0.0", tcpPort, "$(POD_NAME)"];
        container.readinessProbe = { tcpSocket: { port: Number(tcpPort) }, periodSeconds: 1 };
      } else {
        container.args = cert && key ? ["tls", "0.0.0.0", String(port), "$(POD_NAME)", cert, key] : ["httpbin", "0.0.0.0", String(port), "$(POD_NAME)"];
        container.readinessProbe = { httpGet: { path: "/status/200", port, ...(cert ? { scheme: "HTTPS" } : {}) }, periodSeconds: 1 };
      }
      container.env = [...(container.env ?? []).filter((variable) => variable.name !== "POD_NAME"), { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }];
    }
  }
  return documents.map((document) => dump(document, { noRefs: true })).join("---\n");
}

interface Manifest {
  kind?: string;
  spec?: { template?: { spec?: PodSpec } };
}

interface PodSpec {
  terminationGracePeriodSeconds?: number;
  containers?: Container[];
}

interface Container {
  image?: string;
  imagePullPolicy?: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: object }>;
  ports?: Array<{ containerPort: number }>;
  readinessProbe?: object;
}
