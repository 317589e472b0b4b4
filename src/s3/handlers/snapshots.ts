import { snapshotView } from '../../gateway/snapshot-view.js';
import type { SnapshotRecord } from '../../model/records.js';
import { authorizeRequest } from '../access/decide.js';
import { may } from '../authorize.js';
import { readSmallBody } from '../body.js';
import type { RequestContext } from '../context.js';
import type { OpName } from '../routing.js';
import { Errors } from '../s3-error.js';
import { assertKey } from '../validation.js';
import { GatewayError } from '../../gateway/errors.js';

/**
 * Snapshots over HTTP: (1) a ready snapshot is a read-only bucket of its name for every S3 client; (2) the admin API
 * under /_tessera/snapshots (an underscore is never in a bucket name), SigV4-signed like any S3 request, JSON answers.
 */

/** What S3 clients may do with a snapshot bucket: read. */
const READS = new Set<OpName>(['HeadBucket', 'GetBucketLocation', 'ListObjects', 'ListObjectsV2', 'GetObject', 'HeadObject', 'GetObjectAttributes', 'GetObjectTagging']);

export const ADMIN_BUCKET = '_tessera';

/**
 * Serves the request if its bucket is a ready snapshot (and no bucket of that name exists): reads are authorized as
 * reads of the snapshot's source bucket, through the same handlers; anything else is 403. False: not a snapshot.
 */
export async function serveSnapshotBucket(
  ctx: RequestContext,
  bucket: string,
  key: string | undefined,
  op: OpName,
  handler: (ctx: RequestContext) => Promise<void>,
): Promise<boolean> {
  if (op === 'CreateBucket' || (await ctx.access.get(bucket)) !== null) return false;
  const snapshot = await ctx.deps.service.snapshots.get(bucket);
  if (snapshot === null || snapshot.state !== 'ready') return false;
  const source = await ctx.deps.service.getBucket(snapshot.bucket);
  if (source === null) return false;
  if (!READS.has(op)) throw new GatewayError('SnapshotReadOnly', bucket);
  await authorizeRequest(ctx, snapshot.bucket, key, op);
  if (key !== undefined) assertKey(key);
  ctx.deps = { ...ctx.deps, service: snapshotView(ctx.deps.service, snapshot, source) };
  await handler(ctx);
  return true;
}

function json(ctx: RequestContext, status: number, value: unknown): void {
  const body = Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
  ctx.res.statusCode = status;
  ctx.res.setHeader('content-type', 'application/json');
  ctx.res.setHeader('content-length', body.length);
  ctx.res.end(body);
}

export function snapshotSummary(s: SnapshotRecord): Record<string, unknown> {
  return {
    name: s.name,
    bucket: s.bucket,
    prefix: s.prefix,
    createdAt: new Date(s.createdAt).toISOString(),
    state: s.state,
    objects: s.objects,
    bytes: s.bytes,
    merkleRoot: s.root ?? null,
    ...(s.owner !== undefined ? { owner: s.owner } : {}),
  };
}

/**
 * POST /_tessera/snapshots {"bucket","prefix","name"} (admin of the bucket) -> 201; GET /_tessera/snapshots (those of
 * buckets the user may read); GET /_tessera/snapshots/NAME[?export]; POST /_tessera/snapshots/NAME?verify (the report);
 * DELETE /_tessera/snapshots/NAME (admin) -> 204.
 */
export async function serveSnapshotAdmin(ctx: RequestContext, path: string | undefined): Promise<void> {
  const user = ctx.user;
  if (user === undefined) throw Errors.accessDenied();
  const snaps = ctx.deps.service.snapshots;
  const parts = (path ?? '').split('/');
  if (parts[0] !== 'snapshots' || parts.length > 2) throw Errors.noSuchKey(path ?? '');
  const name = parts[1];
  if (name === undefined || name === '') {
    if (ctx.method === 'GET') {
      json(ctx, 200, { snapshots: (await snaps.list()).filter((s) => may(user, s.bucket, 'read')).map(snapshotSummary) });
      return;
    }
    if (ctx.method !== 'POST') throw Errors.invalidRequest(`${ctx.method} is not supported on /_tessera/snapshots`);
    let body: { bucket?: unknown; prefix?: unknown; name?: unknown };
    try {
      body = JSON.parse((await readSmallBody(ctx)).toString('utf8')) as typeof body;
    } catch {
      throw Errors.invalidRequest('The body must be JSON: {"bucket": "...", "prefix": "...", "name": "..."}');
    }
    if (typeof body.bucket !== 'string' || typeof body.name !== 'string' || (body.prefix !== undefined && typeof body.prefix !== 'string')) {
      throw Errors.invalidRequest('The body must name "bucket" and "name" (strings), and may name "prefix"');
    }
    if (!may(user, body.bucket, 'admin')) throw Errors.accessDenied();
    const created = await snaps.create(body.bucket, body.prefix ?? '', body.name, user.accessKey);
    json(ctx, 201, snapshotSummary(created));
    return;
  }
  const snapshot = await snaps.get(name);
  if (snapshot === null || !may(user, snapshot.bucket, 'read')) throw new GatewayError('NoSuchSnapshot', name);
  if (ctx.method === 'GET') {
    if (!ctx.query.has('export')) {
      json(ctx, 200, snapshotSummary(snapshot));
      return;
    }
    ctx.res.statusCode = 200;
    ctx.res.setHeader('content-type', 'application/json');
    for await (const chunk of snaps.exportJson(name)) if (!ctx.res.write(chunk)) await new Promise((r) => ctx.res.once('drain', r));
    ctx.res.end();
    return;
  }
  if (ctx.method === 'POST' && ctx.query.has('verify')) {
    // Re-reads the whole snapshot before answering: for large ones, prefer `tessera snapshot verify` (progress bar).
    const report = await snaps.verify(name);
    json(ctx, 200, report);
    return;
  }
  if (ctx.method === 'DELETE') {
    if (!may(user, snapshot.bucket, 'admin')) throw Errors.accessDenied();
    await snaps.delete(name);
    ctx.res.statusCode = 204;
    ctx.res.end();
    return;
  }
  throw Errors.invalidRequest(`${ctx.method} is not supported on a snapshot`);
}
