/** The operator's Prometheus metrics (prom-client), in one registry of its own. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly queueDepth = new Gauge({ name: "pilotfish_queue_depth", help: "Proxies waiting to be recompiled (debounce, back-off or a free worker)", registers: [this.registry] });
  readonly compileSeconds = new Histogram({
    name: "pilotfish_compile_duration_seconds",
    help: "Snapshot build and compile time per proxy reconcile",
    labelNames: ["proxy"],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly publishSeconds = new Histogram({
    name: "pilotfish_publish_duration_seconds",
    help: "Time to write (or decide not to write) a proxy's published objects",
    labelNames: ["proxy"],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly publishes = new Counter({
    name: "pilotfish_publishes_total",
    help: "Published-object decisions by proxy, object (lds, rds, cds, eds, sds) and result (written, unchanged)",
    labelNames: ["proxy", "object", "result"],
    registers: [this.registry],
  });
  readonly refusals = new Counter({
    name: "pilotfish_publish_refusals_total",
    help: "Configs not published (last good kept), by reason: Inconsistent, TooLarge, OverSubscriptionBudget",
    labelNames: ["proxy", "reason"],
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: "pilotfish_errors_total",
    help: "Errors by stage: reconcile (retried with back-off), informer (watch restarted), event, status",
    labelNames: ["stage"],
    registers: [this.registry],
  });
  readonly fileSubscriptions = new Gauge({
    name: "pilotfish_file_subscriptions",
    help: "File subscriptions (inotify instances) the proxy's config needs in file mode",
    labelNames: ["proxy"],
    registers: [this.registry],
  });
  readonly invalidResources = new Counter({
    name: "pilotfish_invalid_resources_total",
    help: "Istio resource versions skipped because they failed validation",
    labelNames: ["kind"],
    registers: [this.registry],
  });

  readonly statusWrites = new Counter({
    name: "pilotfish_status_writes_total",
    help: "Status subresource patches of Gateways, VirtualServices and DestinationRules (only changed conditions are written)",
    labelNames: ["kind"],
    registers: [this.registry],
  });

  readonly credentialExpiry = new Gauge({
    name: "pilotfish_credential_expiry_seconds",
    help: "Seconds until the earliest certificate in a Gateway's TLS credential Secret expires (negative: expired)",
    labelNames: ["namespace", "name"],
    registers: [this.registry],
  });

  readonly reconcileSeconds = new Histogram({
    name: "pilotfish_reconcile_duration_seconds",
    help: "Whole reconcile time per queue key (a proxy's compile + Service ports + publish, or the status sync), by result (ok, error, not-leader: cut off by losing the leader Lease)",
    labelNames: ["key", "result"],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly queueRetries = new Counter({
    name: "pilotfish_queue_retries_total",
    help: "Reconciles that failed and were re-queued with back-off, by queue key",
    labelNames: ["key"],
    registers: [this.registry],
  });

  readonly informerLists = new Counter({
    name: "pilotfish_informer_lists_total",
    help: "Full lists per informer: the first sync, and every re-list (410 Gone, a watch restarted after an error)",
    labelNames: ["informer"],
    registers: [this.registry],
  });

  readonly informerRestarts = new Counter({
    name: "pilotfish_informer_restarts_total",
    help: "List/watch failures per informer (each restarted with back-off)",
    labelNames: ["informer"],
    registers: [this.registry],
  });

  readonly objectBytes = new Gauge({
    name: "pilotfish_config_object_bytes",
    help: "Data bytes of each object a proxy's config needs (lds, rds, cds, eds ConfigMaps; sds Secret), also when refused as too large",
    labelNames: ["proxy", "object"],
    registers: [this.registry],
  });

  readonly objectLimitBytes = new Gauge({
    name: "pilotfish_config_object_limit_bytes",
    help: "Kubernetes' limit on one ConfigMap's or Secret's data: an object above it is not published (TooLarge)",
    registers: [this.registry],
  });

  readonly xdsRejected = new Counter({
    name: "pilotfish_xds_rejected_total",
    help: "xDS responses a proxy rejected (NACK, with Envoy's error logged), by proxy and type",
    labelNames: ["proxy", "type"],
    registers: [this.registry],
  });

  readonly leader = new Gauge({
    name: "pilotfish_leader",
    help: "1 while this replica holds the leader Lease and may write (also 1 with --leader-elect=false), 0 on a standby",
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "pilotfish_process_" });
  }
}
