/**
 * The console in real browsers (Debian's headless Chromium and Firefox ESR, driven by puppeteer-core): sign in, every page shows live
 * figures of a gateway with real data, a warm started from the tiers page moves bytes into the hot tier, a stopped
 * node shows on the nodes page and in durability, sign out. TESSERA_CONSOLE_SCREENSHOTS=DIR saves every page (the
 * pictures in docs/console/ come from this run: `npm run build && TESSERA_CONSOLE_SCREENSHOTS=docs/console npx vitest
 * run test/console-browser.test.ts`).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN, getDigest, putPattern, startCluster, type Cluster } from './helpers/cluster.js';
import { eventually } from './helpers/wait.js';

/** Current Chromium and Firefox, as Debian packages them (puppeteer-core drives Chromium over CDP, Firefox over BiDi). */
const BROWSERS = [
  { name: 'chromium', product: 'chrome' as const, executablePath: process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], shots: true },
  { name: 'firefox', product: 'firefox' as const, executablePath: process.env.TESSERA_FIREFOX ?? '/usr/bin/firefox-esr', args: [], shots: false },
];
const SHOTS = process.env.TESSERA_CONSOLE_SCREENSHOTS;
for (const b of BROWSERS) {
  if (!existsSync(b.executablePath) && process.env.CI === 'true') throw new Error(`${b.executablePath} is missing: .ci/run installs Debian's chromium and firefox-esr packages`);
}

const DATASET = Array.from({ length: 8 }, (_, i) => ({ key: `shard-${String(i).padStart(4, '0')}.tar`, size: 300_000 + i * 1000 }));
const MODELS = [
  { key: 'ckpt/epoch-1.pt', size: 2_000_000 },
  { key: 'ckpt/epoch-2.pt', size: 2_100_000 },
];
const OBJECTS = DATASET.length + MODELS.length;

async function figure(page: Page, name: string, row?: string): Promise<string> {
  const selector = row === undefined ? `[data-figure="${name}"]` : `${row} [data-figure="${name}"]`;
  return page.$eval(selector, (el) => el.textContent?.trim() ?? '');
}

/** Reloads until the page shows what it must (figures are cached for seconds; the point is that they change). */
async function untilShown(page: Page, check: () => Promise<boolean>, what: string): Promise<void> {
  await eventually(async () => {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 500));
    await page.reload({ waitUntil: 'load' });
    return false;
  }, what, 30_000);
}

describe.each(BROWSERS)('console in $name', (browserSpec) => {
  const available = existsSync(browserSpec.executablePath);
  let cluster: Cluster;
  let browser: Browser;
  let page: Page;
  let base: string;

  const shot = async (name: string): Promise<void> => {
    if (SHOTS === undefined || !browserSpec.shots) return;
    await mkdir(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  };

  beforeAll(async () => {
    if (!available) return;
    cluster = await startCluster({ nodes: 6, cold: { k: 4, m: 2, segmentSize: '1MiB', chunkSize: '64KiB' }, console: { port: 0, sampleInterval: '500ms' } });
    base = cluster.gateway.consoleUrl;
    const s3 = cluster.s3();
    await s3.send(new CreateBucketCommand({ Bucket: 'datasets' }));
    await s3.send(new CreateBucketCommand({ Bucket: 'models' }));
    for (const o of DATASET) await putPattern(s3, 'datasets', o.key, o.key, o.size);
    for (const o of MODELS) await putPattern(s3, 'models', o.key, o.key, o.size);
    expect((await cluster.cli(['evict', 'models'])).code).toBe(0);
    browser = await puppeteer.launch({ browser: browserSpec.product, executablePath: browserSpec.executablePath, headless: true, args: browserSpec.args });
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  test.skipIf(!available)('signs in, sees every page with live figures, warms a bucket, sees a node stop, signs out', async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));

    // Anyone not signed in lands on the sign-in page.
    await page.goto(`${base}/buckets`, { waitUntil: 'load' });
    expect(new URL(page.url()).pathname).toBe('/login');
    await shot('login');
    await page.type('#accessKey', ADMIN.accessKey);
    await page.type('#secretKey', ADMIN.secretKey);
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('button[type=submit]')]);
    expect(new URL(page.url()).pathname, await page.content()).toBe('/');

    // Overview: every object at full redundancy, six nodes answering.
    expect(await figure(page, 'objects')).toBe(String(OBJECTS));
    expect(await figure(page, 'full')).toBe(String(OBJECTS));
    expect(await figure(page, 'nodes-up')).toBe('6');
    expect(await figure(page, 'repair-backlog')).toBe('0');

    // Buckets: the objects of each.
    await page.goto(`${base}/buckets`, { waitUntil: 'load' });
    expect(await figure(page, 'bucket-objects', '[data-bucket="datasets"]')).toBe(String(DATASET.length));
    expect(await figure(page, 'bucket-objects', '[data-bucket="models"]')).toBe(String(MODELS.length));
    expect(await figure(page, 'bucket-hot', '[data-bucket="models"]')).toBe('0 B');
    await shot('buckets');

    // Cost: the same total as `tessera cost --json` on the same data.
    const cost = JSON.parse((await cluster.cli(['cost', '--json'])).stdout) as { currency: string; total: { monthly: number; replication3x: number; allHot: number } };
    await page.goto(`${base}/cost`, { waitUntil: 'load' });
    expect(await figure(page, 'cost-monthly', '[data-cost-total]')).toBe(`${cost.total.monthly.toFixed(2)} ${cost.currency}`);
    expect(await figure(page, 'cost-3x', '[data-cost-total]')).toBe(`${cost.total.replication3x.toFixed(2)} ${cost.currency}`);
    expect(await figure(page, 'cost-all-hot', '[data-cost-total]')).toBe(`${cost.total.allHot.toFixed(2)} ${cost.currency}`);
    await shot('cost');

    // Reads over a few samples, for the hit-ratio and request charts.
    const s3 = cluster.s3();
    for (let round = 0; round < 3; round++) {
      for (const o of DATASET) await getDigest(s3, 'datasets', o.key);
      await new Promise((r) => setTimeout(r, 600));
    }

    // Requests: the PUTs made above, and charts once samples exist.
    await page.goto(`${base}/requests`, { waitUntil: 'load' });
    expect(Number(await figure(page, 'op-requests', '[data-op="PutObject"]'))).toBeGreaterThanOrEqual(OBJECTS);
    expect(Number(await figure(page, 'op-requests', '[data-op="GetObject"]'))).toBeGreaterThanOrEqual(3 * DATASET.length);
    await untilShown(page, async () => (await page.$$('svg[aria-label="Requests per second by operation"] polyline')).length > 0, 'a requests chart');
    await shot('requests');

    // Tiers: warm the evicted bucket from the form; the job runs, the hot tier's bytes grow by the bucket's.
    await page.goto(`${base}/tiers`, { waitUntil: 'load' });
    const before = Number(await figure(page, 'hot-bytes-exact'));
    await page.select('select[name=action]', 'warm');
    await page.select('select[name=bucket]', 'models');
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('form[action="/actions/tiering"] button[type=submit]')]);
    expect(await page.$eval('.flash', (el) => el.textContent ?? '')).toMatch(/Started warm of models\//);
    await untilShown(page, async () => (await page.$$eval('[data-job-state]', (els) => els.map((e) => e.textContent))).includes('done'), 'the warm job done');
    const after = Number(await figure(page, 'hot-bytes-exact'));
    expect(after - before).toBeGreaterThanOrEqual(MODELS.reduce((a, o) => a + o.size, 0));
    expect(await page.$eval('[data-jobs]', (el) => el.textContent ?? '')).toMatch(/warmed 2 of 2 objects/);
    await shot('tiers');

    // A node stops: the nodes page shows it down, durability shows every object degraded.
    await cluster.nodes[0]!.stop();
    await page.goto(`${base}/nodes`, { waitUntil: 'load' });
    await untilShown(page, async () => (await figure(page, 'node-state', '[data-node="node1"]')) === 'down', 'node1 down on the nodes page');
    expect(await figure(page, 'node-state', '[data-node="node2"]')).toBe('up');
    expect(await figure(page, 'nodes-up')).toBe('5');
    await shot('nodes');
    await page.goto(`${base}/`, { waitUntil: 'load' });
    await untilShown(page, async () => (await figure(page, 'degraded')) === String(OBJECTS), 'every object degraded');
    expect(await figure(page, 'full')).toBe('0');
    expect(await figure(page, 'nodes-up')).toBe('5');
    expect(await figure(page, 'durability-state')).toBe('Degraded');
    await shot('overview');

    // Sign out: back to the sign-in page, and the pages are closed again.
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('form[action="/logout"] button')]);
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.goto(`${base}/nodes`, { waitUntil: 'load' });
    expect(new URL(page.url()).pathname).toBe('/login');
    // No page pulled anything from elsewhere or broke a script (the CSP would report it here).
    expect(errors).toEqual([]);
  });
});
