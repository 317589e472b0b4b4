// Minimal signed S3 client for the load generator: raw node:http with keep-alive and SigV4 from `aws4`.
// Raw requests rather than @aws-sdk/client-s3 because on a 2-core machine the client shares the CPU with the
// system under test; the SDK's middleware stack costs more CPU per small request than the server work we measure.
// Bodies are sent with UNSIGNED-PAYLOAD and no checksum trailers (Ceph RGW 16 cannot parse aws-chunked trailers).
import { performance } from 'node:perf_hooks';
import { once } from 'node:events';
import http from 'node:http';
import aws4 from 'aws4';

export class S3Endpoint {
  /** @param {{endpoint: string, accessKey: string, secretKey: string, region?: string, maxSockets?: number}} o */
  constructor(o) {
    const u = new URL(o.endpoint);
    this.host = u.hostname;
    this.port = Number(u.port || 80);
    this.region = o.region ?? 'us-east-1';
    this.credentials = { accessKeyId: o.accessKey, secretAccessKey: o.secretKey };
    this.agent = new http.Agent({ keepAlive: true, maxSockets: o.maxSockets ?? 256 });
  }

  /** Signs and sends a request; returns the live response (caller consumes the body). */
  request({ method, path, headers = {}, body, bodySize }) {
    const h = { ...headers, 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' };
    if (bodySize !== undefined) h['Content-Length'] = String(bodySize);
    else if (typeof body === 'string' || Buffer.isBuffer(body)) h['Content-Length'] = String(Buffer.byteLength(body));
    else if (method === 'PUT' || method === 'POST') h['Content-Length'] = '0';
    const opts = aws4.sign(
      { host: `${this.host}:${this.port}`, hostname: this.host, port: this.port, method, path, headers: h, service: 's3', region: this.region },
      this.credentials,
    );
    opts.agent = this.agent;
    return new Promise((resolve, reject) => {
      const req = http.request(opts, resolve);
      req.on('error', reject);
      if (typeof body === 'function') {
        // A body writer: async (req) => void, which must honour backpressure and end the request.
        body(req).catch((err) => req.destroy(err));
      } else {
        req.end(body);
      }
    });
  }

  /** Request whose response body is read into a string; throws on a non-2xx status. */
  async call(args, okStatuses = [200, 204]) {
    const res = await this.request(args);
    const text = await readText(res);
    if (!okStatuses.includes(res.statusCode)) {
      throw new Error(`${args.method} ${args.path}: HTTP ${res.statusCode} ${text.slice(0, 300)}`);
    }
    return { res, text };
  }

  close() {
    this.agent.destroy();
  }
}

export function readText(res) {
  return new Promise((resolve, reject) => {
    const parts = [];
    res.on('data', (c) => parts.push(c));
    res.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    res.on('error', reject);
  });
}

/** Reads and discards a response body; returns the byte count and when the first byte arrived. */
export function drain(res) {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    let firstByteAt;
    res.on('data', (c) => {
      if (firstByteAt === undefined) firstByteAt = performance.now();
      bytes += c.length;
    });
    res.on('end', () => resolve({ bytes, firstByteAt }));
    res.on('error', reject);
  });
}

/** A body writer that sends `size` bytes cut from a reused random buffer, waiting on 'drain' (backpressure). */
export function patternBody(size, pattern) {
  return async (req) => {
    let left = size;
    while (left > 0) {
      const n = Math.min(left, pattern.length);
      left -= n;
      const ok = req.write(n === pattern.length ? pattern : pattern.subarray(0, n));
      // events.once removes its error listener again, so long bodies do not pile listeners up.
      if (!ok && left > 0) await once(req, 'drain');
    }
    req.end();
  };
}

export const encodeKey = (key) => key.split('/').map(encodeURIComponent).join('/');
