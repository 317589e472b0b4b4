export function quantile(values, q) {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** Median with its spread: the table's "median [min-max]". */
export function summarize(values) {
  if (values.length === 0) return { median: null, min: null, max: null, n: 0 };
  return { median: quantile(values, 0.5), min: Math.min(...values), max: Math.max(...values), n: values.length };
}

export function latencySummary(samples) {
  return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99), n: samples.length };
}
