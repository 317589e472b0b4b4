/**
 * Issue 12 acceptance (items 3 and 4): three `tessera serve` processes on one metadata store, one set of node
 * processes and one hot tier, driven by the AWS SDK v3. Any request on any gateway: read-after-write and
 * list-after-write across gateways, a multipart upload spread over all three and a retried completion on another,
 * no gateway ever serving a stale or deleted object from its hot tier or single-flight state, one hot budget for the
 * cluster, and background jobs that run in one gateway at a time and move when their holder is killed.
 *
 * The store is a parameter: by default the suite runs twice, on one SQLite file in WAL mode and on a throwaway
 * PostgreSQL server (when its binaries exist; with CI=true their absence fails); TESSERA_TEST_META=sqlite or
 * =postgres runs one, or give the JSON of a config `meta` section, e.g.
 * {"driver":"postgres","postgres":{"url":"postgres://..."}}, to run it against an existing store.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { httpStatusOf, startCluster, type Cluster } from './helpers/cluster.js';
import { postgresAvailable, startPostgres, type PostgresServer } from './helpers/postgres.js';

const MiB = 1024 * 1024;
const META_PARAM = process.env.TESSERA_TEST_META ?? '';
/** 'sqlite' and 'postgres' (a server of the file's own) by name; anything else is a config `meta` section as JSON. */
type StoreParam = 'sqlite' | 'postgres' | Record<string, unknown>;
const STORES: StoreParam[] =
  META_PARAM === '' ? ['sqlite', ...(postgresAvailable() ? (['postgres'] as const) : [])] : META_PARAM === 'sqlite' || META_PARAM === 'postgres' ? [META_PARAM] : [JSON.parse(META_PARAM) as Record<string, unknown>];
const storeName = (p: StoreParam): string => (typeof p === 'string' ? p : 'configured store');

async function getBytes(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

async function statusOfGet(s3: S3Client, bucket: string, key: string): Promise<number | undefined> {
  return getBytes(s3, bucket, key).then(
    () => 200,
    (err: unknown) => httpStatusOf(err),
  );
}

async function listAll(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 7, ...(token ? { ContinuationToken: token } : {}) }));
    for (const o of page.Contents ?? []) keys.push(o.Key!);
    token = page.NextContinuationToken;
  } while (token);
  return keys;
}

interface StepLog {
  job: string;
  holder: string;
  startedAt: number;
  endedAt: number;
}

/** Every "background step" and "lease acquired" line of every gateway's log (JSON lines). */
async function jobLogs(cluster: Cluster): Promise<{ steps: StepLog[]; acquired: Array<{ job: string; holder: string; time: number }> }> {
  const steps: StepLog[] = [];
  const acquired: Array<{ job: string; holder: string; time: number }> = [];
  const dir = path.join(cluster.dir, 'logs');
  for (const name of await readdir(dir)) {
    if (!name.startsWith('gateway')) continue;
    for (const line of (await readFile(path.join(dir, name), 'utf8')).split('\n')) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as { msg?: string; job?: string; holder?: string; startedAt?: number; endedAt?: number; time?: number };
      if (entry.msg === 'background step') steps.push(entry as StepLog);
      if (entry.msg === 'lease acquired') acquired.push({ job: entry.job!, holder: entry.holder!, time: entry.time! });
    }
  }
  return { steps, acquired };
}

/** Pairs of steps of one job, in different processes, whose run times overlap. */
function overlaps(steps: StepLog[]): string[] {
  const found: string[] = [];
  const byJob = new Map<string, StepLog[]>();
  for (const s of steps) byJob.set(s.job, [...(byJob.get(s.job) ?? []), s]);
  for (const [job, list] of byJob) {
    list.sort((a, b) => a.startedAt - b.startedAt);
    for (let i = 1; i < list.length; i++) {
      const prev = list.slice(0, i).reduce((a, b) => (b.endedAt > a.endedAt ? b : a));
      if (list[i]!.startedAt < prev.endedAt && list[i]!.holder !== prev.holder) found.push(`${job}: ${prev.holder} and ${list[i]!.holder}`);
    }
  }
  return found;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe.each(STORES.map((p) => [storeName(p), p] as const))('three gateways on one store (%s)', (_name, store) => {
  const META = store === 'sqlite' ? undefined : store;
  const OWN_POSTGRES = store === 'postgres';
  let cluster: Cluster;
  let gw: S3Client[];
  let postgres: PostgresServer | undefined;
  const bucket = 'shared';

  beforeAll(async () => {
    let meta = typeof META === 'object' ? META : undefined;
    if (OWN_POSTGRES) {
      postgres = await startPostgres();
      meta = { driver: 'postgres', postgres: { url: await postgres.createDatabase() } };
    }
    cluster = await startCluster({
      nodes: 6,
      gateways: 3,
      logLevel: 'info',
      cold: { segmentSize: '1MiB', chunkSize: '64KiB', gcGrace: '1s', repair: { interval: '2s' } },
      hot: { driver: 'fs', encrypt: true, budget: '64MiB', promote: 'always' },
      ...(meta ? { meta } : {}),
    });
    gw = [0, 1, 2].map((i) => cluster.s3At(i));
    await gw[0]!.send(new CreateBucketCommand({ Bucket: bucket }));
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
    await postgres?.stop();
  });

  test('read-after-write, overwrite and delete seen at once by the other gateways, even where the old version is hot', async () => {
    for (let i = 0; i < 6; i++) {
      const [writer, other, third] = [gw[i % 3]!, gw[(i + 1) % 3]!, gw[(i + 2) % 3]!];
      const key = `raw/${i}`;
      const v1 = randomBytes(200_000 + i);
      await writer.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: v1 }));
      expect((await getBytes(other, bucket, key)).equals(v1)).toBe(true);
      // Read twice on the third gateway: the first read promotes the object into the (shared) hot tier.
      expect((await getBytes(third, bucket, key)).equals(v1)).toBe(true);
      expect((await getBytes(third, bucket, key)).equals(v1)).toBe(true);

      const v2 = randomBytes(150_000 + i);
      await other.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: v2 }));
      for (const g of gw) expect((await getBytes(g, bucket, key)).equals(v2), `gateway sees the overwrite of ${key}`).toBe(true);
      const head = await third.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      expect(head.ContentLength).toBe(v2.length);

      await third.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      for (const g of gw) expect(await statusOfGet(g, bucket, key)).toBe(404);
    }
  }, 120_000);

  test('list-after-write and list-after-delete across gateways', async () => {
    const keys = Array.from({ length: 24 }, (_, i) => `list/${String(i).padStart(2, '0')}`);
    await Promise.all(keys.map((key, i) => gw[i % 3]!.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `v-${key}` }))));
    for (const g of gw) expect(await listAll(g, bucket, 'list/')).toEqual(keys);
    const removed = keys.filter((_, i) => i % 3 === 1);
    for (const [i, key] of removed.entries()) await gw[i % 3]!.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    const left = keys.filter((k) => !removed.includes(k));
    for (const g of gw) expect(await listAll(g, bucket, 'list/')).toEqual(left);
  }, 60_000);

  test('multipart: created on one gateway, parts on the others, completed on a third; a retried completion elsewhere succeeds', async () => {
    const key = 'mp/object';
    const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(777_777)];
    const { UploadId } = await gw[0]!.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const etags = await Promise.all(
      parts.map(async (body, i) => {
        const r = await gw[1 + (i % 2)]!.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body: body }));
        return r.ETag!;
      }),
    );
    const request = { Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } };
    const done = await gw[2]!.send(new CompleteMultipartUploadCommand(request));
    expect(done.ETag).toMatch(/-3"$/);
    // The client lost the answer and retries on another gateway: same success, same ETag, object unchanged.
    const retried = await gw[0]!.send(new CompleteMultipartUploadCommand(request));
    expect(retried.ETag).toBe(done.ETag);
    const again = await gw[1]!.send(new CompleteMultipartUploadCommand(request));
    expect(again.ETag).toBe(done.ETag);
    for (const g of gw) expect((await getBytes(g, bucket, key)).equals(Buffer.concat(parts))).toBe(true);
    // A "retry" naming other parts is not the completion that happened.
    const wrong = { ...request, MultipartUpload: { Parts: [{ ETag: etags[0]!, PartNumber: 1 }] } };
    const err = await gw[0]!.send(new CompleteMultipartUploadCommand(wrong)).catch((e: unknown) => e);
    expect(httpStatusOf(err)).toBe(404);
    expect((err as Error).name).toBe('NoSuchUpload');
  }, 120_000);

  test('one hot budget for the cluster: gateways promoting at once never exceed it together', async () => {
    // 64 MiB budget; 24 objects of 6 MiB read through all three gateways at once: at most 10 fit.
    const keys = Array.from({ length: 24 }, (_, i) => `budget/${i}`);
    for (const [i, key] of keys.entries()) await gw[i % 3]!.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: randomBytes(6 * MiB) }));
    let peak = 0;
    const hotDir = cluster.hotDir;
    const sample = async (): Promise<void> => {
      let total = 0;
      for (const name of await readdir(hotDir)) {
        // Temp files are uploads in flight, not admitted bytes; admitted blobs are named by object id.
        if (/^[0-9a-f]{32}$/.test(name)) total += await stat(path.join(hotDir, name)).then((s) => s.size, () => 0);
      }
      peak = Math.max(peak, total);
    };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await sample();
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await Promise.all(keys.flatMap((key) => gw.map((g) => getBytes(g, bucket, key))));
    await new Promise((r) => setTimeout(r, 1_000));
    sampling = false;
    await sampler;
    await sample();
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(64 * MiB);
  }, 180_000);

  test('background jobs run in one gateway at a time; a killed holder is replaced within the lease time', async () => {
    await until('every job to have run', async () => {
      const { steps } = await jobLogs(cluster);
      return ['gc', 'repair-sweep', 'hot-maintenance'].every((job) => steps.some((s) => s.job === job));
    }, 60_000);
    const before = await jobLogs(cluster);
    expect(overlaps(before.steps)).toEqual([]);

    // Kill whichever gateway holds "gc" last; another one must take the lease within the lease time (15 s) plus
    // one gc interval (5 s).
    const lastGc = before.acquired.filter((a) => a.job === 'gc').at(-1)!;
    const pid = Number(lastGc.holder.split(':')[1]);
    const victim = cluster.gateways.find((g) => g.pid === pid)!;
    expect(victim, `the gc holder ${lastGc.holder} is one of the gateways`).toBeDefined();
    const killedAt = Date.now();
    await victim.kill();
    await until('another gateway to take the gc lease', async () => {
      const { acquired } = await jobLogs(cluster);
      return acquired.some((a) => a.job === 'gc' && a.holder !== lastGc.holder && a.time > killedAt);
    }, 25_000);
    await victim.start();
    const after = await jobLogs(cluster);
    expect(overlaps(after.steps)).toEqual([]);
    // Every gateway still serves.
    for (const g of gw) expect((await getBytes(g, bucket, 'list/00')).toString()).toBe('v-list/00');
  }, 120_000);

  // The PostgreSQL form of "the database is unavailable": the server stops (an outage or a fail-over) and comes back.
  if (OWN_POSTGRES) {
    test('database down: 503 + Retry-After on every gateway, never a wrong answer; recovery on its own when it returns', async () => {
      await gw[0]!.send(new PutObjectCommand({ Bucket: bucket, Key: 'db/pg-kept', Body: 'kept' }));
      await postgres!.pause();
      try {
        for (const [i, s3] of gw.entries()) {
          const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `db/pg-during-${i}`, Body: 'x' })).then(
            () => 200,
            (err: unknown) => err,
          );
          expect(httpStatusOf(put)).toBe(503);
          expect((put as { $response?: { headers?: Record<string, string> } }).$response?.headers?.['retry-after']).toBe('1');
          expect(await statusOfGet(s3, bucket, 'db/pg-kept')).toBe(503);
        }
        const ready = await fetch(`${cluster.gateways[1]!.url}/ready`);
        expect(ready.status).toBe(503);
      } finally {
        await postgres!.resume();
      }
      await until('every gateway serving again', async () => (await Promise.all(gw.map((s3) => statusOfGet(s3, bucket, 'db/pg-kept')))).every((c) => c === 200), 60_000);
      for (const [i, s3] of gw.entries()) {
        expect((await getBytes(s3, bucket, 'db/pg-kept')).toString()).toBe('kept');
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `db/pg-after-${i}`, Body: `after-${i}` }));
        expect((await getBytes(gw[(i + 1) % 3]!, bucket, `db/pg-after-${i}`)).toString()).toBe(`after-${i}`);
        expect(await statusOfGet(s3, bucket, `db/pg-during-${i}`)).toBe(404);
      }
    }, 180_000);
  }

  // The SQLite form of "the database is unavailable": another process holds its write lock past the busy timeout.
  if (META === undefined) test('store unavailable (SQLite write lock held elsewhere): 503 + Retry-After, reads still right, recovery on its own', async () => {
    await gw[0]!.send(new PutObjectCommand({ Bucket: bucket, Key: 'db/kept', Body: 'kept' }));
    const locker = new Database(cluster.metaDbFile);
    locker.exec('BEGIN EXCLUSIVE');
    let released = false;
    // Held until every PUT has been answered (a commit waits the gateways' 5 s busy timeout, then gives up), bounded.
    const release = setTimeout(() => {
      locker.exec('ROLLBACK');
      released = true;
    }, 60_000);
    try {
      const results = await Promise.all(
        gw.map((g, i) =>
          g.send(new PutObjectCommand({ Bucket: bucket, Key: `db/locked-${i}`, Body: randomBytes(10_000) })).then(
            () => ({ status: 200, retryAfter: undefined as string | undefined, name: 'ok' }),
            (err: unknown) => ({
              status: httpStatusOf(err),
              retryAfter: (err as { $response?: { headers?: Record<string, string> } }).$response?.headers?.['retry-after'],
              name: (err as Error).name,
            }),
          ),
        ),
      );
      expect(released, 'every PUT was answered while the lock was held').toBe(false);
      for (const r of results) expect(r).toEqual({ status: 503, retryAfter: '1', name: 'ServiceUnavailable' });
      // Readers are not blocked by a writer in WAL mode: what was committed is still served exactly.
      expect((await getBytes(gw[1]!, bucket, 'db/kept')).toString()).toBe('kept');
    } finally {
      clearTimeout(release);
      if (!released) locker.exec('ROLLBACK');
      locker.close();
    }
    // Nothing of the refused PUTs is visible; the gateways accept writes again without a restart.
    for (const [i, g] of gw.entries()) {
      expect(await statusOfGet(g, bucket, `db/locked-${i}`)).toBe(404);
      await g.send(new PutObjectCommand({ Bucket: bucket, Key: `db/after-${i}`, Body: `after-${i}` }));
      expect((await getBytes(gw[(i + 1) % 3]!, bucket, `db/after-${i}`)).toString()).toBe(`after-${i}`);
    }
    const ready = await fetch(`${cluster.gateways[2]!.url}/ready`).then((r) => r.json() as Promise<{ checks: Record<string, string> }>);
    expect(ready.checks.meta).toBe('ok');
  }, 180_000);
});
