// The run's outputs: a text/markdown table of medians, the targets verdict, and an SVG chart.
import { fmt } from './harness.mjs';

const byName = (rows, name) => rows.find((r) => r.name === name);

/**
 * Each target of issue 16 (and the listing bar of issue 6): what it compares, the measured value and the threshold.
 * Missing rows are reported as not run.
 */
export function evaluateTargets(rows, opts) {
  const out = [];
  const add = (target, value, ok, detail) => out.push({ target, value, met: value == null || Number.isNaN(value) ? null : ok(value), detail });
  const ratio = (n) => byName(rows, n)?.ratio;
  const med = (n) => byName(rows, n)?.tessera.median;
  const s = opts.streams;
  for (const v of ['1stream', `${s}streams`]) {
    add(`hot GET from the local cache >= 1.2x RGW GET (${v})`, ratio(`get-local-${v}`), (x) => x >= 1.2, 'Tessera/RGW');
    add(`hot GET from the remote hot tier, local cache off >= 0.9x RGW GET (${v})`, ratio(`get-hot-${v}`), (x) => x >= 0.9, 'Tessera/RGW');
    add(`PUT >= RGW PUT into EC 2+1 (${v})`, ratio(`put-${v}`), (x) => x >= 1, 'Tessera/RGW');
  }
  add('cold GET >= 0.6x hot GET (1stream)', med('get-cold-1stream') / med('get-local-1stream'), (x) => x >= 0.6, 'Tessera cold / local-cache hot');
  add('cold GET >= 0.6x hot GET, hot tier alone (1stream)', med('get-cold-1stream') / med('get-hot-1stream'), (x) => x >= 0.6, 'Tessera cold / remote hot (local cache off)');
  for (const n of ['ttfb-local', 'ttfb-hot']) add(`hot time to first byte <= 1.5x RGW's (p50, ${n})`, ratio(n), (x) => x <= 1.5, 'Tessera p50 / RGW p50');
  add('training epoch 1 (cold, read-ahead on) >= 0.8x epoch 2 (train-walk)', med('train-walk-cold') / med('train-walk-hot'), (x) => x >= 0.8, 'Tessera cold / hot, key-order walk');
  add('training epoch 1 >= 0.8x epoch 2 (train, random order)', med('train-cold') / med('train-hot'), (x) => x >= 0.8, 'Tessera cold / hot');
  for (const r of rows.filter((x) => x.group === 'small')) add(`small-object ops/s >= RGW (${r.name})`, r.ratio, (x) => x >= 1, 'Tessera/RGW');
  for (const r of rows.filter((x) => x.group === 'growth' && x.name.startsWith('growth-put-'))) add(`growth-put p50 within 1.5x of RGW's (${r.name})`, r.ratio, (x) => x <= 1.5, 'Tessera p50 / RGW p50');
  for (const r of rows.filter((x) => x.group === 'epochs')) add(`>= 40% hits from epoch 2 on (${r.name})`, r.tessera.min, (x) => x >= 40, 'lowest epoch, % hits');
  for (const r of rows.filter((x) => x.group === 'list' && x.name.endsWith('-1000000'))) add(`list page p50 < 20 ms at 10^6 keys (${r.name})`, r.tessera.median, (x) => x < 20, 'ms');
  for (const r of rows) add(`gateway RSS < 250 MB (${r.name})`, r.gateway.peakRssMB, (x) => x < 250, 'MB peak');
  return out;
}

export function tableMarkdown(rows) {
  const lines = [
    '| scenario | unit | Tessera median [min-max] | Tessera p99 | RGW median [min-max] | RGW p99 | Tessera/RGW | gw CPU s/rep | gw peak RSS MB | note |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const cell = (x) => (x && x.n ? `${fmt(x.median)} [${fmt(x.min)}-${fmt(x.max)}]` : '-');
    const p99 = (x) => (x?.latency && r.unit === 'ms' ? fmt(x.latency.p99) : x?.latency ? `lat p50 ${fmt(x.latency.p50)} / p99 ${fmt(x.latency.p99)} ms` : '-');
    lines.push(
      `| ${r.name} | ${r.unit} | ${cell(r.tessera)} | ${p99(r.tessera)} | ${cell(r.rgw)} | ${p99(r.rgw)} | ${r.ratio == null ? '-' : r.ratio.toFixed(2)} | ${r.gateway.cpuSecondsPerRep.toFixed(2)} | ${r.gateway.peakRssMB.toFixed(0)} | ${r.note ?? ''}${r.errors ? ` **${r.errors.length} failed trial(s)**: ${r.errors[0].message.slice(0, 80).replace(/\|/g, '/')}` : ''} |`,
    );
  }
  return lines.join('\n');
}

export function targetsMarkdown(targets) {
  const lines = ['| target | measured | met |', '|---|---|---|'];
  for (const t of targets) lines.push(`| ${t.target} | ${t.value == null || Number.isNaN(t.value) ? 'not run' : `${fmt(t.value)} (${t.detail})`} | ${t.met == null ? '-' : t.met ? 'yes' : '**no**'} |`);
  return lines.join('\n');
}

// ---------------------------------------------------------------- SVG

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** Horizontal bars, Tessera above RGW per row, one panel per unit; latency panels on a log scale. */
export function chartSvg(rows, title) {
  const panels = [
    { unit: 'MB/s', title: 'Throughput (MB/s, median; higher is better)', log: false },
    { unit: 'ops/s', title: 'Small objects (ops/s, median; higher is better)', log: false },
    { unit: 'ms', title: 'Latency (ms, p50, log scale; lower is better)', log: true },
  ];
  const W = 900;
  const labelW = 210;
  const barH = 9;
  const rowH = 2 * barH + 8;
  let y = 40;
  const parts = [];
  for (const p of panels) {
    const mine = rows.filter((r) => r.unit === p.unit);
    if (mine.length === 0) continue;
    parts.push(`<text x="10" y="${y}" font-weight="bold">${esc(p.title)}</text>`);
    y += 10;
    const max = Math.max(...mine.flatMap((r) => [r.tessera.median, r.rgw?.median ?? 0]));
    const min = Math.min(...mine.flatMap((r) => [r.tessera.median, r.rgw?.median ?? Infinity]).filter((v) => v > 0));
    const lo = p.log ? Math.log10(Math.max(min / 2, 0.01)) : 0;
    const hi = p.log ? Math.log10(max * 1.2) : max * 1.05;
    const scale = (v) => {
      if (!(v > 0)) return 0;
      const t = p.log ? (Math.log10(v) - lo) / (hi - lo) : v / hi;
      return Math.max(1, t * (W - labelW - 80));
    };
    for (const r of mine) {
      parts.push(`<text x="${labelW - 6}" y="${y + barH + 4}" text-anchor="end" font-size="11">${esc(r.name)}</text>`);
      const bars = [['#2b6cb0', r.tessera.median], ['#c05621', r.rgw?.median]];
      bars.forEach(([color, v], i) => {
        if (v == null) return;
        const by = y + i * (barH + 1);
        parts.push(`<rect x="${labelW}" y="${by}" width="${scale(v).toFixed(1)}" height="${barH}" fill="${color}"/>`);
        parts.push(`<text x="${labelW + scale(v) + 4}" y="${by + barH - 1}" font-size="9">${fmt(v)}</text>`);
      });
      y += rowH;
    }
    y += 20;
  }
  const legend = `<rect x="${W - 190}" y="12" width="10" height="10" fill="#2b6cb0"/><text x="${W - 176}" y="21" font-size="11">Tessera</text><rect x="${W - 110}" y="12" width="10" height="10" fill="#c05621"/><text x="${W - 96}" y="21" font-size="11">RGW (direct)</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y + 10}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="10" y="20" font-size="14">${esc(title)}</text>${legend}${parts.join('')}</svg>\n`;
}
