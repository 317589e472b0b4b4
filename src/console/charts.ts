import { esc, h, raw, type Html } from './html.js';

/** Inline SVG charts: drawn on the server, so a page is one small document that works offline and without scripts. */

export const COLORS = ['#2f5bd3', '#1d8a4e', '#c47d00', '#c62f2f', '#7a4cc2', '#0f8b8d', '#8a6d3b', '#5d6678'];

export interface Series {
  label: string;
  color: string;
  points: ReadonlyArray<readonly [t: number, v: number]>;
}

function nice(max: number): number {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

function legend(items: ReadonlyArray<{ label: string; color: string }>): Html {
  return h`<div class="legend">${items.map((s) => h`<span><svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" rx="2" fill="${s.color}"/></svg> ${s.label}</span>`)}</div>`;
}

/** Lines over time; the x axis is minutes before now, the y axis starts at 0 (or `max` fixed, e.g. 1 for ratios). */
export function lineChart(title: string, series: Series[], format: (v: number) => string, opts: { max?: number; width?: number; height?: number } = {}): Html {
  const W = opts.width ?? 560;
  const H = opts.height ?? 170;
  const left = 58;
  const bottom = 20;
  const top = 8;
  const right = 8;
  const all = series.flatMap((s) => s.points);
  if (all.length < 2) {
    return h`<figure><figcaption>${title}</figcaption><p class="muted">Collecting figures: a chart appears after a few samples.</p></figure>`;
  }
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(...all.map((p) => p[0]));
  const yMax = opts.max ?? nice(Math.max(...all.map((p) => p[1])));
  const x = (t: number): number => left + ((t - t0) / Math.max(1, t1 - t0)) * (W - left - right);
  const y = (v: number): number => top + (1 - Math.min(v, yMax) / yMax) * (H - top - bottom);
  const grid = [0, 0.5, 1].map((f) => {
    const v = yMax * f;
    return raw(`<line x1="${left}" x2="${W - right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#dde1e8"/><text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${esc(format(v))}</text>`);
  });
  const minutes = Math.round((t1 - t0) / 60_000);
  const axis = raw(
    `<text x="${left}" y="${H - 4}">${minutes > 0 ? `${minutes} min ago` : `${Math.round((t1 - t0) / 1000)} s ago`}</text><text x="${W - right}" y="${H - 4}" text-anchor="end">now</text>`,
  );
  const lines = series
    .filter((s) => s.points.length > 0)
    .map((s) => raw(`<polyline fill="none" stroke="${esc(s.color)}" stroke-width="2" points="${s.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ')}"/>`));
  return h`<figure><figcaption>${title}</figcaption><svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${title}">${grid}${axis}${lines}</svg>${legend(series)}</figure>`;
}

/** A horizontal bar split into parts (durability classes, budget use). */
export function stackedBar(title: string, parts: ReadonlyArray<{ label: string; value: number; color: string }>, format: (v: number) => string = String, total?: number): Html {
  const W = 560;
  const H = 26;
  const sum = total ?? parts.reduce((a, p) => a + p.value, 0);
  let at = 0;
  const rects = parts.map((p) => {
    const w = sum > 0 ? (p.value / sum) * W : 0;
    const r = raw(`<rect x="${at.toFixed(1)}" y="0" width="${w.toFixed(1)}" height="${H}" fill="${esc(p.color)}"><title>${esc(`${p.label}: ${format(p.value)}`)}</title></rect>`);
    at += w;
    return r;
  });
  return h`<figure><figcaption>${title}</figcaption><svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${title}"><rect width="${W}" height="${H}" fill="#eef0f4"/>${rects}</svg>${legend(parts.map((p) => ({ label: `${p.label}: ${format(p.value)}`, color: p.color })))}</figure>`;
}

/** Horizontal bars, one per item, scaled to the largest. */
export function barChart(title: string, items: ReadonlyArray<{ label: string; value: number; color: string }>, format: (v: number) => string): Html {
  const W = 560;
  const row = 24;
  const labelW = 150;
  const max = Math.max(1e-12, ...items.map((i) => i.value));
  const bars = items.map((it, i) => {
    const w = (it.value / max) * (W - labelW - 90);
    const yy = i * row;
    return raw(
      `<text x="0" y="${yy + 16}">${esc(it.label)}</text><rect x="${labelW}" y="${yy + 4}" width="${Math.max(1, w).toFixed(1)}" height="${row - 8}" rx="3" fill="${esc(it.color)}"/><text x="${(labelW + w + 6).toFixed(1)}" y="${yy + 16}">${esc(format(it.value))}</text>`,
    );
  });
  return h`<figure><figcaption>${title}</figcaption><svg viewBox="0 0 ${W} ${items.length * row}" width="100%" role="img" aria-label="${title}">${bars}</svg></figure>`;
}
