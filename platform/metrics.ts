/**
 * A small Prometheus text-format registry (counters, gauges, histograms), enough for
 * `GET /metrics` without another dependency.
 */
type Labels = Record<string, string>;

const labelKey = (labels: Labels) =>
  Object.keys(labels).sort().map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',');

interface Series { labels: string; value: number }

export class Metric {
  readonly series = new Map<string, Series>();
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  constructor(name: string, help: string, type: 'counter' | 'gauge') {
    this.name = name;
    this.help = help;
    this.type = type;
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    const s = this.series.get(k) ?? { labels: k, value: 0 };
    s.value += by;
    this.series.set(k, s);
  }
  set(labels: Labels, value: number): void {
    const k = labelKey(labels);
    this.series.set(k, { labels: k, value });
  }
  get(labels: Labels = {}): number {
    return this.series.get(labelKey(labels))?.value ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    for (const s of this.series.values()) lines.push(`${this.name}${s.labels ? `{${s.labels}}` : ''} ${s.value}`);
    return lines.join('\n');
  }
}

export class Histogram {
  readonly #counts: number[];
  #sum = 0;
  #count = 0;
  readonly name: string;
  readonly help: string;
  readonly bucketsSeconds: number[];
  constructor(name: string, help: string, bucketsSeconds: number[]) {
    this.name = name;
    this.help = help;
    this.bucketsSeconds = bucketsSeconds;
    this.#counts = bucketsSeconds.map(() => 0);
  }
  observe(seconds: number): void {
    this.#sum += seconds;
    this.#count++;
    this.bucketsSeconds.forEach((b, i) => { if (seconds <= b) this.#counts[i]!++; });
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.bucketsSeconds.forEach((b, i) => lines.push(`${this.name}_bucket{le="${b}"} ${this.#counts[i]}`));
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.#count}`, `${this.name}_sum ${this.#sum}`, `${this.name}_count ${this.#count}`);
    return lines.join('\n');
  }
}

export class MetricsRegistry {
  readonly #metrics = new Map<string, Metric | Histogram>();
  counter(name: string, help: string): Metric {
    return this.#getOrCreate(name, () => new Metric(name, help, 'counter')) as Metric;
  }
  gauge(name: string, help: string): Metric {
    return this.#getOrCreate(name, () => new Metric(name, help, 'gauge')) as Metric;
  }
  histogram(name: string, help: string, bucketsSeconds: number[]): Histogram {
    return this.#getOrCreate(name, () => new Histogram(name, help, bucketsSeconds)) as Histogram;
  }
  #getOrCreate(name: string, make: () => Metric | Histogram) {
    let m = this.#metrics.get(name);
    if (!m) { m = make(); this.#metrics.set(name, m); }
    return m;
  }
  render(): string {
    return [...this.#metrics.values()].map((m) => m.render()).join('\n') + '\n';
  }
}
