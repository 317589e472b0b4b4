/** LeasedJob: a job's steps run in one holder at a time, and a step learns through its signal when the lease is lost. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LeasedJob } from '../src/meta/lease.js';
import { SqliteMetaStore } from '../src/meta/sqlite-store.js';
import { createLogger } from '../src/util/logger.js';

let dir: string;
let a: SqliteMetaStore;
let b: SqliteMetaStore;
const log = createLogger('silent');

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lease-job-'));
  a = SqliteMetaStore.open(join(dir, 'meta.db'));
  b = SqliteMetaStore.open(join(dir, 'meta.db'));
});

afterEach(async () => {
  await a.close();
  await b.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('LeasedJob', () => {
  it('runs a step in one holder only, renews during a long step, and hands over on release', async () => {
    const jobA = new LeasedJob(a, 'gc', 'gw-a', log, 300);
    const jobB = new LeasedJob(b, 'gc', 'gw-b', log, 300);
    let bRanDuring: unknown = 'not tried';
    const ranA = await jobA.run(async (signal) => {
      // Longer than the lease time: only the renewals keep it.
      await new Promise((r) => setTimeout(r, 700));
      bRanDuring = await jobB.run(async () => 'b ran');
      expect(signal.aborted).toBe(false);
      return 'a ran';
    });
    expect(ranA).toBe('a ran');
    expect(bRanDuring).toBeUndefined();
    await jobA.release();
    expect(await jobB.run(async () => 'b ran')).toBe('b ran');
  });

  it('aborts the running step when a renewal finds the lease taken', async () => {
    const jobA = new LeasedJob(a, 'sweep', 'gw-a', log, 300);
    const raw = new Database(join(dir, 'meta.db'));
    const started = Date.now();
    const outcome = await jobA.run(
      (signal) =>
        new Promise<string>((resolve) => {
          // Another holder took the lease (e.g. this process stalled past the lease time).
          setTimeout(() => raw.prepare("UPDATE leases SET holder = 'intruder', expires_at = ? WHERE name = 'sweep'").run(Date.now() + 60_000), 50);
          signal.addEventListener('abort', () => resolve(`aborted: ${(signal.reason as Error).message}`));
          setTimeout(() => resolve('ran to the end'), 3_000);
        }),
    );
    raw.close();
    expect(outcome).toBe('aborted: lease sweep lost');
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
