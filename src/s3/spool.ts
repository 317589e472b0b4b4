import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { makePrivateDir, PRIVATE_FILE_MODE } from '../util/private-files.js';
import { decodeBody } from './auth/index.js';
import { allowBody, type PayloadStream } from './body.js';
import { guardBodyRate } from './body-rate.js';
import type { RequestContext } from './context.js';
import { S3Error, Errors } from './s3-error.js';

/**
 * A body sent with Transfer-Encoding: chunked and no length (curl -T -, Go's and Java's HTTP clients): the cold tier
 * plans segments from the size, so the body is first spooled to a file in the data dir, at most `max` bytes, encrypted
 * under a key that lives only in this request's memory (no plaintext on the gateway's disk), then read back with its
 * size known. The file is removed when the read-back stream closes, or at once on failure.
 */
export async function spoolPayload(ctx: RequestContext, max: number): Promise<PayloadStream> {
  if (!ctx.auth) throw Errors.accessDenied();
  const decoded = decodeBody(ctx.auth, ctx.req.headers);
  const { req } = ctx;
  const { minBodyRate, bodyRateWindowMs } = ctx.deps.config.server;
  const stopGuard = guardBodyRate(req, { minBytesPerSecond: minBodyRate, windowMs: bodyRateWindowMs }, () => {
    ctx.deps.metrics.slowBodies.inc();
    decoded.stream.destroy(Errors.requestTimeout());
  });
  // Not piped through pipeline(): that would destroy the request, and the client must still receive the XML error.
  const cut = (): void => {
    if (!req.complete) decoded.stream.destroy(Errors.incompleteBody());
  };
  req.on('close', cut);
  allowBody(ctx);
  req.pipe(decoded.stream);
  try {
    const spooled = await spoolStream(ctx, decoded.stream, max);
    return { ...spooled, trailers: decoded.trailers };
  } catch (err) {
    req.unpipe(decoded.stream);
    throw err;
  } finally {
    stopGuard();
    req.off('close', cut);
  }
}

/**
 * Spools any body stream of unknown length (at most `max` bytes, else EntityTooLarge) to an encrypted file in the
 * data dir and gives it back with its size. Shared by chunked PUTs and POST form uploads.
 */
export async function spoolStream(ctx: RequestContext, body: Readable, max: number): Promise<{ stream: Readable; size: number }> {
  const dir = path.join(ctx.deps.config.dataDir, 'spool');
  makePrivateDir(dir);
  const file = path.join(dir, `${randomBytes(16).toString('hex')}.spool`);
  const key = randomBytes(32);
  const iv = randomBytes(16);
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > max) return done(Errors.entityTooLarge(max));
      ctx.bytesIn += chunk.length;
      ctx.deps.metrics.bytesIn.inc(chunk.length);
      done(null, chunk);
    },
  });
  try {
    await pipeline(body, counter, createCipheriv('aes-256-ctr', key, iv), createWriteStream(file, { mode: PRIVATE_FILE_MODE }));
  } catch (err) {
    await rm(file, { force: true });
    throw err instanceof S3Error ? err : Errors.incompleteBody();
  }
  const source = createReadStream(file);
  const back: Readable = source.pipe(createDecipheriv('aes-256-ctr', key, iv));
  source.once('error', (err) => back.destroy(err));
  back.once('close', () => {
    source.destroy();
    void rm(file, { force: true });
  });
  return { stream: back, size };
}
