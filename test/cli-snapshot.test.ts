/** `tessera snapshot ...` from the built CLI, beside a running `tessera serve` on the same data dir. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, GetObjectCommand, PutBucketVersioningCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ManagedProcess, runCli } from './helpers/cluster.js';

describe('tessera snapshot (CLI)', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'tessera-cli-snap-'));
  const dataDir = path.join(root, 'data');
  const env = { TESSERA_DATA_DIR: dataDir };
  let gateway: ManagedProcess;
  let s3: S3Client;

  beforeAll(async () => {
    gateway = new ManagedProcess({ name: 'gateway', logFile: path.join(root, 'serve.log'), readyLine: /Tessera is listening on (\S+)/ }, () => ({
      args: ['serve'],
      env: { ...env, TESSERA_PORT: '0', TESSERA_CONSOLE_PORT: '0', TESSERA_LOG_LEVEL: 'warn' },
    }));
    await gateway.start();
    const creds = JSON.parse(readFileSync(path.join(dataDir, 'credentials.json'), 'utf8')) as { accessKey: string; secretKey: string };
    s3 = new S3Client({ endpoint: gateway.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: creds.accessKey, secretAccessKey: creds.secretKey } });
    await s3.send(new CreateBucketCommand({ Bucket: 'corpus' }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: 'corpus', VersioningConfiguration: { Status: 'Enabled' } }));
    for (const k of ['text/a.txt', 'text/b.txt']) await s3.send(new PutObjectCommand({ Bucket: 'corpus', Key: k, Body: `body of ${k}` }));
  }, 120_000);
  afterAll(async () => {
    s3.destroy();
    await gateway.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const cli = async (...args: string[]) => {
    const r = await runCli(['snapshot', ...args], 120_000, env);
    return { ...r, json: () => JSON.parse(r.stdout) as Record<string, unknown> };
  };

  it('create, list, show, export, verify, diff and delete', async () => {
    const created = await cli('create', 'corpus/text/', 'corpus-v1', '--json');
    expect([created.code, created.stderr]).toEqual([0, expect.stringMatching(/snapshot corpus-v1: 2 objects/)]);
    const summary = created.json();
    expect(summary).toMatchObject({ name: 'corpus-v1', bucket: 'corpus', prefix: 'text/', state: 'ready', objects: 2, bytes: 36 });

    const listed = await cli('list', '--json');
    expect((JSON.parse(listed.stdout) as Array<{ name: string; merkleRoot: string }>).map((s) => [s.name, s.merkleRoot])).toEqual([['corpus-v1', summary.merkleRoot]]);
    expect((await cli('show', 'corpus-v1')).stdout).toMatch(/read it at +s3:\/\/corpus-v1\//);

    const exported = JSON.parse((await cli('export', 'corpus-v1')).stdout) as { merkleRoot: string; entries: Array<{ key: string; sha256: string }> };
    expect(exported.merkleRoot).toBe(summary.merkleRoot);
    expect(exported.entries.map((e) => [e.key, e.sha256])).toEqual(['text/a.txt', 'text/b.txt'].map((k) => [k, createHash('sha256').update(`body of ${k}`).digest('hex')]));

    const verified = await cli('verify', 'corpus-v1', '--json');
    expect(verified.code).toBe(0);
    expect(verified.json()).toMatchObject({ ok: true, rootMatches: true, objects: 2 });

    // The running gateway serves the snapshot as a bucket at once.
    await s3.send(new PutObjectCommand({ Bucket: 'corpus', Key: 'text/a.txt', Body: 'rewritten' }));
    const fromSnapshot = await s3.send(new GetObjectCommand({ Bucket: 'corpus-v1', Key: 'text/a.txt' }));
    expect(await fromSnapshot.Body!.transformToString()).toBe('body of text/a.txt');

    expect((await cli('create', 'corpus/text/', 'corpus-v2')).code).toBe(0);
    const diff = await cli('diff', 'corpus-v1', 'corpus-v2');
    expect(diff.stdout).toMatch(/^~ text\/a\.txt\t[0-9a-f]{64} -> [0-9a-f]{64}$/m);
    expect(diff.stdout).toMatch(/0 added, 0 removed, 1 changed/);

    expect((await cli('delete', 'corpus-v2')).code).toBe(0);
    const missing = await cli('show', 'corpus-v2');
    expect([missing.code, missing.stderr]).toEqual([64, expect.stringMatching(/no snapshot corpus-v2/)]);
    const again = await cli('create', 'corpus/text/', 'corpus-v1');
    expect([again.code, again.stderr]).toEqual([1, expect.stringMatching(/SnapshotExists corpus-v1/)]);
  });
});
