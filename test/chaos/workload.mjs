/**
 * The mixed workload: N concurrent S3 clients doing PUT/GET/LIST/DELETE/multipart until a deadline, recording every
 * attempted and acknowledged write in an OpLog, and checking every GET and LIST on the fly (a GET must return bytes
 * of some attempted body of that key: never a torn mix; an acknowledged key nobody tried to delete must not vanish).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { bodyBuffer, bodyHash, bodyStream, sha256Hex } from './bodies.mjs';

export const BUCKET = 'chaos';
const MiB = 1024 * 1024;
const PART = 5 * MiB;

export function makeClient(endpoint, credentials) {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials,
    maxAttempts: 1,
    // The SDK warns on every failed streaming request; failures are counted in the summary instead.
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    requestHandler: new NodeHttpHandler({
      connectionTimeout: 10_000,
      // Idle socket limit: a gateway that stalls longer than this is a failed (unacknowledged) operation.
      requestTimeout: 90_000,
      httpAgent: new http.Agent({ keepAlive: true, maxSockets: 4 }),
    }),
  });
}

/** Every attempted write/delete per key, with its outcome; the source of truth for the final invariants. */
export class OpLog {
  constructor() {
    /** key -> Array<{ kind: 'put'|'delete', hash?, size?, start, end, acked, certainEnd }> */
    this.byKey = new Map();
    /** { t: performance.now() of the SIGKILL, gateway: index } */
    this.gatewayKills = [];
    this.counts = {};
    this.statuses = {};
    this.anomalies = [];
  }
  count(name) {
    this.counts[name] = (this.counts[name] ?? 0) + 1;
  }
  status(op, code, err) {
    const k = `${op} ${code}`;
    if (err && !this.statuses[k]) console.log(`  first ${k}: ${String(err.message).slice(0, 200)}`);
    this.statuses[k] = (this.statuses[k] ?? 0) + 1;
  }
  anomaly(msg) {
    this.anomalies.push(msg);
    if (this.anomalies.length <= 50) console.log(`  ANOMALY: ${msg}`);
  }
  begin(key, rec) {
    let list = this.byKey.get(key);
    if (!list) this.byKey.set(key, (list = []));
    const entry = { ...rec, start: performance.now(), end: Infinity, acked: false, settled: false };
    list.push(entry);
    return entry;
  }
  /** An error with an HTTP status means the server finished with the request: its effect (if any) is in the past. */
  finish(entry, acked, httpAnswered) {
    entry.settled = true;
    entry.acked = acked;
    if (acked || httpAnswered) entry.end = performance.now();
    else entry.pendingSince = performance.now();
  }
  /** A request that died with the connection may still commit until the gateway dies: bound it by the next kill. */
  resolveOpenEnds() {
    for (const list of this.byKey.values())
      for (const e of list) {
        if (e.end !== Infinity) continue;
        // The kill of the gateway that had the request (any kill when either side does not say which).
        const kill = this.gatewayKills.find((k) => k.t >= e.start && (k.gateway === undefined || e.gateway === undefined || k.gateway === e.gateway));
        if (kill !== undefined) e.end = kill.t;
      }
  }
  attemptedHashes(key) {
    return new Set((this.byKey.get(key) ?? []).filter((e) => e.kind === 'put').map((e) => e.hash));
  }
  attemptedSizes(key) {
    return new Set((this.byKey.get(key) ?? []).filter((e) => e.kind === 'put').map((e) => e.size));
  }
}

function httpStatus(err) {
  return err?.$metadata?.httpStatusCode;
}

function isConnectionError(err) {
  return httpStatus(err) === undefined;
}

const rand = (n) => Math.floor(Math.random() * n);
const pick = (weights) => {
  let r = Math.random() * weights.reduce((a, [, w]) => a + w, 0);
  for (const [name, w] of weights) if ((r -= w) < 0) return name;
  return weights[0][0];
};

function smallSize() {
  const r = Math.random();
  if (r < 0.08) return 0;
  if (r < 0.55) return 1 + rand(4096);
  if (r < 0.85) return 4096 + rand(256 * 1024);
  return 256 * 1024 + rand(2 * MiB);
}

/**
 * Several gateways behind one client, round robin per request (a multipart upload's create, parts and completion
 * land on different gateways). pick() tells which gateway a request goes to, so a fault can kill that one.
 */
class RoundRobinClient {
  constructor(endpoints, credentials) {
    this.clients = endpoints.map((e) => makeClient(e, credentials));
    this.next = 0;
  }
  pick() {
    const index = this.next++ % this.clients.length;
    return { index, client: this.clients[index] };
  }
  send(command, options) {
    return this.pick().client.send(command, options);
  }
  destroy() {
    for (const c of this.clients) c.destroy();
  }
}

export class Workload {
  /**
   * @param {{ endpoint?: string, endpoints?: string[], credentials: object, clients: number, log: OpLog, large: boolean, maxLargeMiB: number }} opts
   */
  constructor(opts) {
    this.opts = opts;
    this.log = opts.log;
    this.client = new RoundRobinClient(opts.endpoints ?? [opts.endpoint], opts.credentials);
    this.version = 0;
    /** Operations in flight the fault injector can aim at (gateway kill during a write / a completion). */
    this.inflight = new Set();
    this.largeBusy = false;
    this.bytesWritten = 0;
    this.bytesRead = 0;
  }

  nextBodyId(key) {
    return `${key}#${++this.version}`;
  }

  chooseKey(kind) {
    switch (kind) {
      case 'hot':
        return `h/${rand(6)}`;
      case 'medium':
        return `m/${rand(30)}`;
      case 'large':
        return `l/${rand(4)}`;
      case 'mp':
        return `mp/${rand(12)}`;
      default:
        return `s/${rand(250)}`;
    }
  }

  async run(deadline) {
    const workers = [];
    for (let i = 0; i < this.opts.clients; i++) workers.push(this.worker(deadline));
    await Promise.all(workers);
  }

  async worker(deadline) {
    while (Date.now() < deadline) {
      const op = pick([
        ['put', 34],
        ['get', 32],
        ['list', 7],
        ['delete', 10],
        ['multipart', this.opts.large ? 4 : 0],
        ['large', this.opts.large && !this.largeBusy ? 1 : 0],
      ]);
      let connectionFailed = false;
      try {
        connectionFailed = await this[op]();
      } catch (err) {
        this.log.anomaly(`workload bug in ${op}: ${err.stack ?? err}`);
      }
      // Gateway down (restart in progress): back off instead of spinning.
      if (connectionFailed) await new Promise((r) => setTimeout(r, 250));
    }
  }

  keyClass() {
    return pick([
      ['hot', 25],
      ['small', 55],
      ['medium', 20],
    ]);
  }

  sizeFor(cls) {
    if (cls === 'medium') return 2 * MiB + rand(14 * MiB);
    if (cls === 'hot') return rand(3) === 0 ? 0 : rand(64 * 1024);
    return smallSize();
  }

  async put() {
    const cls = this.keyClass();
    const key = this.chooseKey(cls);
    return this.putObject(key, this.sizeFor(cls));
  }

  async large() {
    this.largeBusy = true;
    try {
      return await this.putObject(this.chooseKey('large'), 20 * MiB + rand((this.opts.maxLargeMiB - 20) * MiB));
    } finally {
      this.largeBusy = false;
    }
  }

  async putObject(key, size) {
    const bodyId = this.nextBodyId(key);
    const streamed = size > 4 * MiB;
    const buf = streamed ? undefined : bodyBuffer(bodyId, size);
    const hash = buf ? sha256Hex(buf) : await bodyHash(bodyId, size);
    const via = this.client.pick();
    const entry = this.log.begin(key, { kind: 'put', hash, size, gateway: via.index });
    const flight = { kind: 'put', size, key, since: Date.now(), gateway: via.index };
    this.inflight.add(flight);
    this.log.count('put');
    try {
      await via.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: buf ?? bodyStream(bodyId, 0, size), ContentLength: size }));
      this.log.finish(entry, true);
      this.log.count('put.acked');
      this.log.status('PUT', 200);
      this.bytesWritten += size;
      return false;
    } catch (err) {
      this.log.finish(entry, false, !isConnectionError(err));
      this.log.status('PUT', httpStatus(err) ?? err.code ?? err.name, err);
      return isConnectionError(err);
    } finally {
      this.inflight.delete(flight);
    }
  }

  async get() {
    const cls = this.keyClass();
    const key = this.chooseKey(cls);
    return (await this.getObject(key, true)).connectionError === true;
  }

  /** Reads a key whole and checks its bytes against the attempted bodies. */
  async getObject(key, live) {
    const started = performance.now();
    this.log.count('get');
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      const h = createHash('sha256');
      let n = 0;
      for await (const chunk of res.Body) {
        h.update(chunk);
        n += chunk.length;
      }
      const hash = h.digest('hex');
      this.bytesRead += n;
      this.log.status('GET', 200);
      if (!this.log.attemptedHashes(key).has(hash)) this.log.anomaly(`GET ${key}: ${n} bytes (sha256 ${hash.slice(0, 12)}) match no attempted body (torn or foreign object)`);
      return { found: true, hash, size: n };
    } catch (err) {
      const status = httpStatus(err);
      this.log.status('GET', status ?? err.code ?? err.name, err);
      if (status === 404 && live) this.checkNotLost(key, started);
      if (status === 404) return { found: false };
      return { error: err, connectionError: isConnectionError(err) };
    }
  }

  /** 404 for a key whose acknowledged PUT finished before this GET began, and that nobody ever tried to delete. */
  checkNotLost(key, getStarted) {
    const ops = this.log.byKey.get(key) ?? [];
    if (ops.some((e) => e.kind === 'delete')) return;
    const acked = ops.find((e) => e.kind === 'put' && e.acked && e.end < getStarted);
    if (acked) this.log.anomaly(`GET ${key}: 404 although a PUT was acknowledged before the GET and no DELETE was ever attempted`);
  }

  async list() {
    const prefix = ['s/', 'm/', 'h/', 'mp/', 'l/', ''][rand(6)];
    this.log.count('list');
    let token;
    try {
      for (let page = 0; page < 3; page++) {
        const res = await this.client.send(
          new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, MaxKeys: 50 + rand(400), ContinuationToken: token }),
        );
        for (const o of res.Contents ?? []) {
          if (!this.log.attemptedSizes(o.Key).has(o.Size)) this.log.anomaly(`LIST shows ${o.Key} with size ${o.Size}: no attempted body of that key has that size`);
        }
        token = res.NextContinuationToken;
        if (!token) break;
      }
      this.log.status('LIST', 200);
      return false;
    } catch (err) {
      this.log.status('LIST', httpStatus(err) ?? err.code ?? err.name, err);
      return isConnectionError(err);
    }
  }

  async delete() {
    const cls = this.keyClass();
    const key = this.chooseKey(cls === 'medium' ? 'mp' : cls);
    const entry = this.log.begin(key, { kind: 'delete' });
    this.log.count('delete');
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
      this.log.finish(entry, true);
      this.log.count('delete.acked');
      this.log.status('DELETE', 204);
      return false;
    } catch (err) {
      this.log.finish(entry, false, !isConnectionError(err));
      this.log.status('DELETE', httpStatus(err) ?? err.code ?? err.name, err);
      return isConnectionError(err);
    }
  }

  async multipart() {
    const key = this.chooseKey('mp');
    const size = 6 * MiB + rand(30 * MiB);
    const bodyId = this.nextBodyId(key);
    const hash = await bodyHash(bodyId, size);
    const entry = this.log.begin(key, { kind: 'put', hash, size, multipart: true });
    this.log.count('multipart');
    let uploadId;
    const flight = { kind: 'upload', size, key, since: Date.now() };
    this.inflight.add(flight);
    try {
      const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
      uploadId = created.UploadId;
      const parts = [];
      for (let off = 0, n = 1; off < size; off += PART, n++) {
        const len = Math.min(PART, size - off);
        const via = this.client.pick();
        flight.gateway = entry.gateway = via.index;
        const res = await via.client.send(
          new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId, PartNumber: n, Body: bodyStream(bodyId, off, len), ContentLength: len }),
        );
        parts.push({ PartNumber: n, ETag: res.ETag });
      }
      const via = this.client.pick();
      flight.gateway = entry.gateway = via.index;
      flight.kind = 'complete';
      flight.since = Date.now();
      await via.client.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
      this.log.finish(entry, true);
      this.log.count('multipart.acked');
      this.log.status('MPU', 200);
      this.bytesWritten += size;
      return false;
    } catch (err) {
      this.log.finish(entry, false, !isConnectionError(err));
      this.log.status(`MPU(${flight.kind})`, httpStatus(err) ?? err.code ?? err.name, err);
      if (uploadId && rand(2) === 0) {
        // Half the failed uploads are aborted by the client, half are left for the final cleanup.
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId })).catch(() => undefined);
      }
      return isConnectionError(err);
    } finally {
      this.inflight.delete(flight);
    }
  }

  /** Aborts every upload still in progress (bounded), so gc has their parts to collect. */
  async abortLeftoverUploads() {
    let aborted = 0;
    for (let round = 0; round < 20; round++) {
      const res = await this.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
      const uploads = res.Uploads ?? [];
      if (uploads.length === 0) break;
      for (const u of uploads) {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: u.Key, UploadId: u.UploadId }));
        aborted++;
      }
    }
    return aborted;
  }

  /** Waits (bounded) until an operation of `kind` is in flight, for a fault aimed at it. */
  async waitForInflight(kind, minAgeMs, timeoutMs) {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      for (const f of this.inflight) if (f.kind === kind && Date.now() - f.since >= minAgeMs) return f;
      await new Promise((r) => setTimeout(r, kind === 'complete' ? 2 : 50));
    }
    return undefined;
  }

  close() {
    this.client.destroy();
  }
}
