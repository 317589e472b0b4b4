import http from 'node:http';
import https from 'node:https';
import { pipeline, type Readable } from 'node:stream';
import aws4 from 'aws4';
import { abortErrorFrom } from './abort.js';
import { sleep } from './abortable-sleep.js';
import { withExactLength } from './s3-client.js';
import { guardStalls } from './watchdog.js';

/**
 * A small S3 client for the data path of a hot tier: GetObject and single PutObject over keep-alive node:http, signed
 * with SigV4 (UNSIGNED-PAYLOAD, bodies streamed as they are), retries with backoff for GETs. The AWS SDK's middleware
 * stack was the largest block of CPU in hot-GET profiles; the SDK stays for everything else (multipart, listing,
 * deletes, health), where its generality costs nothing that matters.
 */
export interface LeanS3Options {
  endpoint: string;
  region: string;
  forcePathStyle: boolean;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Connecting and waiting for an answer's headers; and, for a body, the longest gap while the reader wants data. */
  timeoutMs: number;
  maxAttempts: number;
}

/** An S3 error answer, described without anything the request carried (no signature, no credentials). */
export class LeanS3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'LeanS3Error';
  }
}

const RETRYABLE_STATUS = new Set([500, 502, 503, 504]);

export class LeanS3 {
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;

  constructor(private readonly o: LeanS3Options) {
    this.url = new URL(o.endpoint);
    this.transport = this.url.protocol === 'https:' ? https : http;
    this.agent = new this.transport.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64 });
  }

  private target(bucket: string, key: string): { host: string; path: string } {
    const encoded = key.split('/').map(encodeURIComponent).join('/');
    if (this.o.forcePathStyle) return { host: this.url.host, path: `${this.url.pathname.replace(/\/$/, '')}/${bucket}/${encoded}` };
    return { host: `${bucket}.${this.url.host}`, path: `${this.url.pathname.replace(/\/$/, '')}/${encoded}` };
  }

  private signed(method: string, bucket: string, key: string, headers: Record<string, string>): http.RequestOptions {
    const { host, path } = this.target(bucket, key);
    const req = { host, path, method, service: 's3', region: this.o.region, headers: { ...headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } };
    aws4.sign(req, this.o.credentials);
    return { protocol: this.url.protocol, hostname: this.url.hostname, port: this.url.port, path, method, headers: { ...req.headers, host }, agent: this.agent };
  }

  /**
   * Sends one request; resolves with the answer once its headers are in: within timeoutMs of the request's end (an
   * upload's own duration is not bounded, only its idle gaps). A failing body rejects with the body's error.
   */
  private send(opts: http.RequestOptions, body: Readable | undefined, signal?: AbortSignal): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortErrorFrom(signal));
      const req = this.transport.request(opts);
      let timer: NodeJS.Timeout | undefined;
      let bodyError: Error | undefined;
      const waitForAnswer = (): void => {
        req.setTimeout(0);
        timer = setTimeout(() => req.destroy(new Error(`S3 ${opts.method ?? 'GET'}: no answer within ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
      };
      const onAbort = (): void => {
        req.destroy(abortErrorFrom(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      req.once('response', (res) => {
        settle();
        resolve(res);
      });
      req.once('error', (err) => {
        settle();
        reject(bodyError ?? err);
      });
      if (body) {
        req.setTimeout(this.o.timeoutMs, () => req.destroy(new Error(`S3 ${opts.method ?? 'PUT'}: body idle for ${this.o.timeoutMs} ms`)));
        req.once('finish', waitForAnswer);
        pipeline(body, req, (err) => {
          if (!err) return;
          bodyError ??= err;
          req.destroy(err);
        });
      } else {
        waitForAnswer();
        req.end();
      }
    });
  }

  /** The object's bytes (or a range of them); null when the key does not exist. */
  async get(bucket: string, key: string, range?: { offset: number; length: number }, signal?: AbortSignal): Promise<Readable | null> {
    const headers: Record<string, string> = range ? { range: `bytes=${range.offset}-${range.offset + range.length - 1}` } : {};
    for (let attempt = 1; ; attempt++) {
      let res: http.IncomingMessage;
      try {
        res = await this.send(this.signed('GET', bucket, key, headers), undefined, signal);
      } catch (err) {
        if (signal?.aborted || attempt >= this.o.maxAttempts) throw err;
        await this.backoff(attempt, signal);
        continue;
      }
      const status = res.statusCode ?? 0;
      if (status === 200 || status === 206) return this.guarded(res);
      const failure = await errorOf(res, 'GetObject');
      if (status === 404) return null;
      if (!RETRYABLE_STATUS.has(status) || attempt >= this.o.maxAttempts) throw failure;
      await this.backoff(attempt, signal);
    }
  }

  /** One streamed PutObject of exactly `length` bytes (up to S3's 5 GiB); not retried (a stream is not replayed). */
  async put(bucket: string, key: string, body: Readable, length: number, signal?: AbortSignal): Promise<void> {
    const opts = this.signed('PUT', bucket, key, { 'content-length': String(length), 'content-type': 'application/octet-stream' });
    const res = await this.send(opts, withExactLength(body, length), signal);
    if (res.statusCode !== 200) throw await errorOf(res, 'PutObject');
    res.resume();
  }

  /**
   * A body that stops arriving while its reader wants more fails after timeoutMs; a reader that pauses (a slow
   * client downstream) is not a stalled peer. guardStalls wraps it: a 'data' listener on the answer itself would
   * start it flowing before its consumer is attached, and the bytes in between would be lost.
   */
  private guarded(res: http.IncomingMessage): Readable {
    return guardStalls(res, this.o.timeoutMs, () => new Error(`S3 GetObject: body stalled for ${this.o.timeoutMs} ms`));
  }

  private backoff(attempt: number, signal?: AbortSignal): Promise<void> {
    return sleep(Math.random() * Math.min(2000, 50 * 2 ** attempt), signal, 'reject');
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The S3 error of an answer: status and `<Code>` from its XML body (read up to 16 KiB), never the request. */
async function errorOf(res: http.IncomingMessage, op: string): Promise<LeanS3Error> {
  let text = '';
  try {
    for await (const chunk of res) {
      text += String(chunk);
      if (text.length > 16384) break;
    }
  } catch {
    // The body is only a description.
  }
  res.destroy();
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? `HTTP${res.statusCode ?? 0}`;
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? '';
  return new LeanS3Error(res.statusCode ?? 0, code, `S3 ${op}: HTTP ${res.statusCode ?? 0} ${code}${message ? `: ${message}` : ''}`);
}
