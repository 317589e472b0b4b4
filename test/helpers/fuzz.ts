/**
 * Shared by the fuzz and security tests: a SigV4 signer that signs exactly the bytes it sends (so a mutation of the
 * path, query, headers or body survives authentication and reaches the code under test), raw HTTP/TCP senders that
 * never throw on a server's answer, and the response contract every fuzz case asserts.
 */
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { expect } from 'vitest';

export interface Credentials {
  accessKey: string;
  secretKey: string;
}

export interface Wire {
  method: string;
  /** Path as sent on the wire (already percent-encoded, possibly invalidly). */
  path: string;
  /** Query as sent on the wire, without '?'. */
  query?: string;
  headers?: Record<string, string>;
  body?: Buffer;
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** The server closed or reset the connection before a complete response. */
  dropped: boolean;
  /** node:http refused to send it (characters not allowed on the wire): the server never saw it. */
  notSent?: boolean;
}

export const sha256Hex = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** RFC 3986 unreserved characters stay; everything else is %XX of its UTF-8 bytes (SigV4's UriEncode). */
export function uriEncode(s: string, keepSlash = false): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** A query string whose canonical form is itself: pairs encoded with uriEncode and sorted. */
export function canonicalQuery(pairs: Array<[string, string]>): string {
  return pairs
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/**
 * The canonical URI the way S3 clients compute it for a decoded key: percent-escapes are decoded to bytes (an escape
 * that is not one stays literal) and the bytes re-encoded with '/' kept. A client that sends "a%2Fb" therefore signs
 * "a/b", the key it means.
 */
export function canonicalUri(wirePath: string): string {
  const bytes: number[] = [];
  const input = Buffer.from(wirePath, 'utf8');
  for (let i = 0; i < input.length; i++) {
    const c = input[i] as number;
    const hex = c === 0x25 && i + 2 < input.length ? String.fromCharCode(input[i + 1] as number, input[i + 2] as number) : '';
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(c);
  }
  let out = '';
  for (const b of bytes) {
    const ch = String.fromCharCode(b);
    out += /[A-Za-z0-9\-._~/]/.test(ch) ? ch : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export interface SigningKey {
  key: Buffer;
  scope: string;
  amzDate: string;
  signature: string;
}

/**
 * Adds host, x-amz-date, x-amz-content-sha256 (unless given) and Authorization. The query must already be canonical
 * (see canonicalQuery); the path may be anything, invalid encodings included: they are signed as a client would.
 */
export function sign(w: Wire, host: string, creds: Credentials, opts: { payloadHash?: string; date?: Date; region?: string } = {}): Wire & { signing: SigningKey } {
  const region = opts.region ?? 'us-east-1';
  const amzDate = (opts.date ?? new Date()).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = { ...(w.headers ?? {}) };
  headers.host = host;
  headers['x-amz-date'] = amzDate;
  headers['x-amz-content-sha256'] ??= opts.payloadHash ?? sha256Hex(w.body ?? Buffer.alloc(0));
  const names = Object.keys(headers)
    .map((n) => n.toLowerCase())
    .sort();
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const canonicalHeaders = names.map((n) => `${n}:${String(lower[n]).trim().replace(/\s+/g, ' ')}\n`).join('');
  const signedHeaders = names.join(';');
  const canonical = [w.method, canonicalUri(w.path), w.query ?? '', canonicalHeaders, signedHeaders, lower['x-amz-content-sha256']].join('\n');
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${creds.secretKey}`, day), region), 's3'), 'aws4_request');
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${creds.accessKey}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return { ...w, headers, signing: { key, scope, amzDate, signature } };
}

/** Sends one request over a fresh connection; resolves with whatever came back (never rejects on server behaviour). */
export function send(port: number, w: Wire, timeoutMs = 20_000): Promise<Answer> {
  return new Promise((resolve) => {
    const path = w.query ? `${w.path}?${w.query}` : w.path;
    let settled = false;
    const done = (a: Answer): void => {
      if (settled) return;
      settled = true;
      resolve(a);
    };
    let req: http.ClientRequest;
    try {
      req = http.request({ host: '127.0.0.1', port, method: w.method, path, headers: w.headers, agent: false, timeout: timeoutMs }, onResponse);
    } catch (err) {
      done({ status: 0, headers: {}, body: Buffer.alloc(0), text: (err as Error).message, dropped: false, notSent: true });
      return;
    }
    function onResponse(res: http.IncomingMessage): void {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        done({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8'), dropped: false });
      });
      res.on('error', () => done({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), text: '', dropped: true }));
    }
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (err) => done({ status: 0, headers: {}, body: Buffer.alloc(0), text: err.message, dropped: true }));
    req.end(w.body);
  });
}

/** Writes raw bytes to the server and collects the raw answer until the server closes (or timeoutMs). */
export function sendRaw(port: number, bytes: Buffer | string, timeoutMs = 10_000): Promise<{ text: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let closedByServer = false;
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => {
      closedByServer = true;
      socket.end();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closedByServer });
    });
    socket.write(bytes);
  });
}

export function errorCodeOf(a: Answer): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(a.text)?.[1] ?? (a.headers['x-amz-error-code'] as string | undefined);
}

/** 5xx a client can cause legitimately: back-pressure (503 SlowDown) and unimplemented features (501). */
const ALLOWED_5XX = new Set(['503 SlowDown', '501 NotImplemented']);

/**
 * The contract of every answer to a fuzzed request: an HTTP answer (no dropped connection), no 5xx except the allowed
 * ones, and every error an S3 XML document with a Code and the request id that the x-amz-request-id header carries.
 */
export function expectS3Contract(a: Answer, what: string, allowed5xx: ReadonlySet<string> = ALLOWED_5XX): void {
  const context = `${what} -> ${a.status} ${a.text.slice(0, 300)}`;
  expect(a.dropped, `connection dropped: ${context}`).toBe(false);
  const code = errorCodeOf(a);
  if (a.status >= 500) expect(allowed5xx.has(`${a.status} ${code}`), `server error for a client request: ${context}`).toBe(true);
  if (a.status >= 400) {
    const requestId = a.headers['x-amz-request-id'];
    expect(typeof requestId === 'string' && requestId.length > 0, `no x-amz-request-id: ${context}`).toBe(true);
    if (a.body.length > 0 || a.status !== 304) {
      // HEAD answers carry no body: the code travels in x-amz-error-code instead.
      if (a.body.length === 0) {
        expect(a.headers['x-amz-error-code'], `error without body or x-amz-error-code: ${context}`).toBeTruthy();
      } else {
        expect(a.text, `error body is not S3 XML: ${context}`).toMatch(/^<\?xml[^>]*>\s*<Error><Code>[A-Za-z]+<\/Code>/);
        expect(a.text, `error body lacks the request id: ${context}`).toContain(`<RequestId>${String(requestId)}</RequestId>`);
      }
    }
  }
}

/** Unsigned but otherwise well-formed request (anonymous). */
export function anonymous(w: Wire, host: string): Wire {
  return { ...w, headers: { ...(w.headers ?? {}), host } };
}
