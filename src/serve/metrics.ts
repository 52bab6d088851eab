/**
 * A small Prometheus text-format registry (exposition format 0.0.4): counters, gauges and histograms with
 * labels. Enough for `GET /metrics`; no dependency.
 */

type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  return `{${keys.map((k) => `${k}="${esc(labels[k])}"`).join(',')}}`;
}

interface Metric {
  render(): string[] | Promise<string[]>;
}

export class Counter implements Metric {
  private readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const [k, v] of this.values) lines.push(`${this.name}${k} ${v}`);
    return lines;
  }
}

/** A gauge read when scraped. */
export class Gauge implements Metric {
  constructor(readonly name: string, readonly help: string, private readonly read: () => Array<[Labels, number]> | Promise<Array<[Labels, number]>>) {}
  async render(): Promise<string[]> {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    for (const [labels, v] of await this.read()) lines.push(`${this.name}${labelKey(labels)} ${v}`);
    return lines;
  }
}

export class Histogram implements Metric {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {}
  observe(value: number, labels: Labels = {}): void {
    const k = labelKey(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    this.buckets.forEach((b, i) => { if (value <= b) s!.counts[i]++; });
    s.sum += value;
    s.count++;
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${labelKey({ ...s.labels, le: String(b) })} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${labelKey({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${labelKey(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelKey(s.labels)} ${s.count}`);
    }
    return lines;
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];
  add<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }
  /** The whole registry in Prometheus text format. */
  async render(): Promise<string> {
    const parts = await Promise.all(this.metrics.map((m) => m.render()));
    return `${parts.flat().join('\n')}\n`;
  }
}

/** The metrics `fer serve` exports. Queue depth is read from the job queue when scraped. */
export interface ServeMetrics {
  registry: Registry;
  requests: Counter;
  latency: Histogram;
  faces: Counter;
  images: Counter;
  batches: Histogram;
  jobs: Counter;
}

export function createServeMetrics(queueDepth: () => Promise<Array<[Labels, number]>>, inflight: () => number): ServeMetrics {
  const registry = new Registry();
  const requests = registry.add(new Counter('fer_http_requests_total', 'HTTP requests by route, method and status code.'));
  const latency = registry.add(new Histogram('fer_http_request_duration_seconds', 'HTTP request latency by route, seconds.',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]));
  const faces = registry.add(new Counter('fer_faces_found_total', 'Faces found in images sent to /v1/predict and /v1/compare.'));
  const images = registry.add(new Counter('fer_images_total', 'Images decoded and analysed.'));
  const batches = registry.add(new Histogram('fer_classify_batch_faces', 'Faces per classification batch (micro-batching across requests).',
    [1, 2, 4, 8, 16, 32, 64, 128]));
  const jobs = registry.add(new Counter('fer_video_jobs_submitted_total', 'Video jobs submitted through this server.'));
  registry.add(new Gauge('fer_queue_depth', 'Video jobs by state (waiting, active, ...).', queueDepth));
  registry.add(new Gauge('fer_predict_inflight', 'Image requests being analysed or waiting for the classifier.', () => [[{}, inflight()]]));
  return { registry, requests, latency, faces, images, batches, jobs };
}
