import type { Metrics } from '../util/metrics.js';

/** One point of the console's charts: rates over the interval before `t`, levels at `t`. */
export interface Sample {
  t: number;
  /** Requests per second by S3 operation. */
  byOp: Record<string, number>;
  requestsPerSec: number;
  /** 4xx and 5xx answers per second. */
  clientErrorsPerSec: number;
  serverErrorsPerSec: number;
  /** Latency over the interval's requests (upper bucket bounds of the histogram), ms; undefined without requests. */
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  /** Hot-tier hits / (hits + misses) over the interval; undefined without reads. */
  hotHitRatio: number | undefined;
  promotionsPerSec: number;
  evictionsPerSec: number;
  repairsPerSec: number;
  bytesInPerSec: number;
  bytesOutPerSec: number;
}

interface Totals {
  t: number;
  requests: Map<string, { all: number; c4: number; c5: number }>;
  /** Cumulative counts per histogram bound (le), over every operation. */
  latency: Map<number, number>;
  hotHits: number;
  hotMisses: number;
  promotions: number;
  evictions: number;
  repairs: number;
  bytesIn: number;
  bytesOut: number;
}

function sum(values: ReadonlyArray<{ value: number }>): number {
  return values.reduce((a, v) => a + v.value, 0);
}

async function totals(m: Metrics, t: number): Promise<Totals> {
  const requests = new Map<string, { all: number; c4: number; c5: number }>();
  for (const v of (await m.requests.get()).values) {
    const op = String(v.labels.op ?? 'unknown');
    const status = Number(v.labels.status ?? 0);
    const r = requests.get(op) ?? { all: 0, c4: 0, c5: 0 };
    r.all += v.value;
    if (status >= 500) r.c5 += v.value;
    else if (status >= 400) r.c4 += v.value;
    requests.set(op, r);
  }
  const latency = new Map<number, number>();
  for (const v of (await m.requestSeconds.get()).values) {
    if (v.metricName !== 'tessera_s3_request_seconds_bucket') continue;
    // The bucket bound is a label prom-client adds to the histogram's own ('op').
    const raw = (v.labels as Record<string, string | number | undefined>).le;
    const le = raw === '+Inf' ? Infinity : Number(raw);
    latency.set(le, (latency.get(le) ?? 0) + v.value);
  }
  return {
    t,
    requests,
    latency,
    hotHits: sum((await m.hotHits.get()).values),
    hotMisses: sum((await m.hotMisses.get()).values),
    promotions: sum((await m.promotions.get()).values.filter((v) => v.labels.result === 'ok')),
    evictions: sum((await m.evictions.get()).values),
    repairs: sum((await m.repairs.get()).values.filter((v) => v.labels.result === 'ok')),
    bytesIn: sum((await m.bytesIn.get()).values),
    bytesOut: sum((await m.bytesOut.get()).values),
  };
}

/** The quantile's upper bucket bound from cumulative bucket deltas (Prometheus' histogram_quantile without interpolation). */
function quantileMs(prev: Map<number, number>, cur: Map<number, number>, q: number): number | undefined {
  const bounds = [...cur.keys()].sort((a, b) => a - b);
  const count = (cur.get(Infinity) ?? 0) - (prev.get(Infinity) ?? 0);
  if (count <= 0) return undefined;
  const finite = bounds.filter((b) => Number.isFinite(b));
  for (const b of bounds) {
    if ((cur.get(b) ?? 0) - (prev.get(b) ?? 0) >= q * count) return (Number.isFinite(b) ? b : (finite[finite.length - 1] ?? 0)) * 1000;
  }
  return (finite[finite.length - 1] ?? 0) * 1000;
}

function difference(prev: Totals, cur: Totals): Sample {
  const secs = Math.max(0.001, (cur.t - prev.t) / 1000);
  const rate = (a: number, b: number): number => Math.max(0, b - a) / secs;
  const byOp: Record<string, number> = {};
  let all = 0;
  let c4 = 0;
  let c5 = 0;
  for (const [op, r] of cur.requests) {
    const p = prev.requests.get(op) ?? { all: 0, c4: 0, c5: 0 };
    const n = rate(p.all, r.all);
    if (n > 0) byOp[op] = n;
    all += n;
    c4 += rate(p.c4, r.c4);
    c5 += rate(p.c5, r.c5);
  }
  const hits = cur.hotHits - prev.hotHits;
  const misses = cur.hotMisses - prev.hotMisses;
  return {
    t: cur.t,
    byOp,
    requestsPerSec: all,
    clientErrorsPerSec: c4,
    serverErrorsPerSec: c5,
    p50Ms: quantileMs(prev.latency, cur.latency, 0.5),
    p99Ms: quantileMs(prev.latency, cur.latency, 0.99),
    hotHitRatio: hits + misses > 0 ? hits / (hits + misses) : undefined,
    promotionsPerSec: rate(prev.promotions, cur.promotions),
    evictionsPerSec: rate(prev.evictions, cur.evictions),
    repairsPerSec: rate(prev.repairs, cur.repairs),
    bytesInPerSec: rate(prev.bytesIn, cur.bytesIn),
    bytesOutPerSec: rate(prev.bytesOut, cur.bytesOut),
  };
}

/**
 * Samples this process's metrics every interval into a ring (the charts' history; `capacity` points). Figures are of
 * this gateway process: with several gateways or workers, Prometheus and the Grafana dashboard show the sum.
 */
export class MetricsSampler {
  private readonly ring: Sample[] = [];
  private last: Totals | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Cumulative counts since the process started, for the figures shown beside the charts. */
  latestTotals: Totals | undefined;

  constructor(
    private readonly metrics: Metrics,
    private readonly intervalMs: number,
    private readonly capacity = 360,
  ) {}

  start(): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  samples(): readonly Sample[] {
    return this.ring;
  }

  async tick(): Promise<void> {
    const cur = await totals(this.metrics, Date.now());
    if (this.last) {
      this.ring.push(difference(this.last, cur));
      if (this.ring.length > this.capacity) this.ring.shift();
    }
    this.last = cur;
    this.latestTotals = cur;
  }
}
