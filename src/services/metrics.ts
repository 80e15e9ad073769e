/**
 * Process metrics in the Prometheus text exposition format (version 0.0.4): counters and
 * histograms that the gateway's code updates as work happens, and gauges read when a scrape
 * asks (queue depth from the store, open protocol sessions from the bridge's listeners).
 *
 * Each process counts its own work, as Prometheus expects: with several gateways, each one is a
 * scrape target and queries sum over them. Nothing here touches the store or a platform API,
 * so it runs on every host the gateway runs on.
 */

export type Labels = Record<string, string>;

/** Reads a gauge's samples at scrape time. */
export type GaugeCollector = () => Promise<{ labels: Labels; value: number }[]>;

interface Family {
  name: string;
  help: string;
  type: "counter" | "histogram" | "gauge";
}

/** Latency buckets in seconds: 1 ms to 60 s. */
export const LATENCY_BUCKETS = [
  0.001,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
];

/** Delivery latency buckets in seconds: 1 s to 3 days (queue time included). */
export const DELIVERY_BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86_400, 3 * 86_400];

const key = (labels: Labels) =>
  Object.keys(labels).sort().map((k) => `${k}="${escapeLabel(labels[k])}"`).join(",");

/** Label values escape backslash, double quote and newline (exposition format). */
function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

const braces = (k: string) => (k ? `{${k}}` : "");

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

export class Counter {
  readonly values = new Map<string, number>();
  constructor(readonly family: Family) {}

  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) return; // counters only go up
    const k = key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }

  render(): string[] {
    return [...this.values].map(([k, v]) => `${this.family.name}${braces(k)} ${formatValue(v)}`);
  }
}

export class Histogram {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(readonly family: Family, readonly buckets: number[]) {}

  observe(seconds: number, labels: Labels = {}): void {
    if (!Number.isFinite(seconds) || seconds < 0) return;
    const k = key(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 });
    for (let i = 0; i < this.buckets.length; i++) if (seconds <= this.buckets[i]) s.counts[i]++;
    s.sum += seconds;
    s.count++;
  }

  render(): string[] {
    const out: string[] = [];
    const name = this.family.name;
    for (const [k, s] of this.series) {
      const sep = k ? "," : "";
      this.buckets.forEach((le, i) =>
        out.push(`${name}_bucket{${k}${sep}le="${formatValue(le)}"} ${s.counts[i]}`)
      );
      out.push(`${name}_bucket{${k}${sep}le="+Inf"} ${s.count}`);
      out.push(`${name}_sum${braces(k)} ${formatValue(s.sum)}`);
      out.push(`${name}_count${braces(k)} ${s.count}`);
    }
    return out;
  }
}

/** The registry: one per process, created by the host or by `createApp` when none is given. */
export class Metrics {
  private readonly families: (Counter | Histogram)[] = [];
  private readonly gauges: { family: Family; collect: GaugeCollector }[] = [];

  // What the gateway itself counts (the names are part of the /metrics contract: README).
  readonly httpRequests = this.counter(
    "postern_http_requests_total",
    "HTTP requests answered, by method and status class.",
  );
  readonly httpDuration = this.histogram(
    "postern_http_request_duration_seconds",
    "Time to answer an HTTP request, by method.",
  );
  readonly messagesIn = this.counter(
    "postern_messages_received_total",
    "Recipients of mail handed to the gateway, by source (smtp, submission, federation) and " +
      "result (delivered, duplicate, forwarded, rejected; federation: accepted, rejected).",
  );
  readonly messagesOut = this.counter(
    "postern_messages_delivered_total",
    "Outbound delivery attempts recorded by a bridge, by outcome (sent, deferred, failed).",
  );
  readonly deliveryLatency = this.histogram(
    "postern_delivery_latency_seconds",
    "From queueing to the final outcome of an outbound recipient (sent or bounced).",
    DELIVERY_BUCKETS,
  );
  readonly storeJobs = this.counter(
    "postern_store_jobs_total",
    "Write jobs run on the store, by kind (batch, transaction).",
  );
  readonly storeJobDuration = this.histogram(
    "postern_store_job_duration_seconds",
    "Time a write job took its caller, from the call to the commit (group-commit wait included).",
  );
  readonly storeRoundTrips = this.counter(
    "postern_store_round_trips_total",
    "Round trips write jobs cost a remote store engine.",
  );

  /** Counts incoming recipients by their result (delivered, rejected, …). */
  received(source: string, results: readonly { status: string }[]): void {
    for (const r of results) this.messagesIn.inc({ source, result: r.status });
  }

  counter(name: string, help: string): Counter {
    const c = new Counter({ name, help, type: "counter" });
    this.families.push(c);
    return c;
  }

  histogram(name: string, help: string, buckets = LATENCY_BUCKETS): Histogram {
    const h = new Histogram({ name, help, type: "histogram" }, buckets);
    this.families.push(h);
    return h;
  }

  /** A gauge read at scrape time; a collector that throws is reported, not fatal. */
  gauge(name: string, help: string, collect: GaugeCollector): void {
    this.gauges.push({ family: { name, help, type: "gauge" }, collect });
  }

  async render(): Promise<string> {
    const lines: string[] = [];
    const head = (f: Family) =>
      lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const f of this.families) {
      head(f.family);
      lines.push(...f.render());
    }
    const scrapeErrors: string[] = [];
    for (const g of this.gauges) {
      head(g.family);
      try {
        for (const s of await g.collect()) {
          lines.push(`${g.family.name}${braces(key(s.labels))} ${formatValue(s.value)}`);
        }
      } catch {
        scrapeErrors.push(g.family.name);
      }
    }
    head({
      name: "postern_metrics_collect_errors",
      help: "Gauges that could not be read in this scrape.",
      type: "gauge",
    });
    lines.push(`postern_metrics_collect_errors ${scrapeErrors.length}`);
    return lines.join("\n") + "\n";
  }
}
