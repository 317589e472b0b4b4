/**
 * MD5 (the S3 ETag) and, for whole objects, SHA-256 (the plaintext's content hash, for dataset snapshots) of large
 * request bodies on a worker thread. MD5 is the largest per-byte cost of a PUT on the gateway's main thread (~17% of
 * its busy time, bench/results profiles), and neither can be avoided; on another thread they run beside the
 * encryption and erasure coding instead of before them.
 *
 * The bytes reach the worker through a per-body SharedArrayBuffer ring of fixed slots: the main thread copies each
 * chunk into the current slot (a copy into reused memory is far cheaper than MD5 itself), posts full slots, and waits
 * only when every slot is still being hashed, so memory per body stays at RING_BYTES whatever its size.
 */
import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

const SLOT_BYTES = 512 * 1024;
const SLOTS = 4;
/** Bodies smaller than this are hashed inline: a worker round trip costs more than their MD5. */
export const OFFLOAD_MIN_BYTES = 4 * 1024 * 1024;

// Plain CommonJS so that it runs the same from the TypeScript sources (tests) and from the build.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const open = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'open') {
    open.set(m.id, { hash: createHash('md5'), sha: m.sha256 ? createHash('sha256') : null, ring: new Uint8Array(m.ring) });
  } else if (m.op === 'update') {
    const h = open.get(m.id);
    if (h) {
      const bytes = h.ring.subarray(m.off, m.off + m.len);
      h.hash.update(bytes);
      if (h.sha) h.sha.update(bytes);
    }
    parentPort.postMessage({ id: m.id, op: 'freed', slot: m.slot });
  } else if (m.op === 'digest') {
    const h = open.get(m.id);
    open.delete(m.id);
    const d = h ? h.hash.digest() : null;
    const sha = h && h.sha ? h.sha.digest() : null;
    parentPort.postMessage({ id: m.id, op: 'digest', digest: d ? new Uint8Array(d) : null, sha256: sha ? new Uint8Array(sha) : null });
  } else if (m.op === 'drop') {
    open.delete(m.id);
  }
});
`;

type Reply = { id: number; op: 'freed'; slot: number } | { id: number; op: 'digest'; digest: Uint8Array | null; sha256: Uint8Array | null };

interface Listener {
  onReply(r: Reply): void;
  onFailure(err: Error): void;
}

let worker: Worker | undefined;
let broken = false;
let nextId = 1;
const listeners = new Map<number, Listener>();

function sharedWorker(): Worker | undefined {
  if (broken) return undefined;
  if (worker) return worker;
  const w = new Worker(WORKER_SOURCE, { eval: true, name: 'tessera-digests' });
  w.on('message', (r: Reply) => listeners.get(r.id)?.onReply(r));
  const fail = (err: Error): void => {
    // Bodies in progress lose their digest (their PUT fails); later bodies hash inline.
    broken = true;
    worker = undefined;
    for (const l of [...listeners.values()]) l.onFailure(err);
    listeners.clear();
  };
  w.on('error', fail);
  w.on('exit', (code) => fail(new Error(`digest worker exited (${code})`)));
  w.unref();
  worker = w;
  return w;
}

/** The body's digests: MD5, and SHA-256 when asked for. */
export interface Digests {
  md5: Buffer;
  sha256?: Buffer;
}

/** Incremental digests; update() returns a promise only when the caller must wait (the ring is full). */
export interface BodyDigests {
  update(data: Buffer): Promise<void> | undefined;
  digest(): Promise<Digests>;
  /** Forget the body (it was abandoned). */
  close(): void;
}

class InlineDigests implements BodyDigests {
  private readonly hash: Hash = createHash('md5');
  private readonly sha: Hash | undefined;
  constructor(sha256: boolean) {
    if (sha256) this.sha = createHash('sha256');
  }
  update(data: Buffer): undefined {
    this.hash.update(data);
    this.sha?.update(data);
    return undefined;
  }
  digest(): Promise<Digests> {
    return Promise.resolve({ md5: this.hash.digest(), ...(this.sha ? { sha256: this.sha.digest() } : {}) });
  }
  close(): void {}
}

class WorkerDigests implements BodyDigests {
  private readonly id = nextId++;
  private readonly ring = new SharedArrayBuffer(SLOT_BYTES * SLOTS);
  private readonly view = new Uint8Array(this.ring);
  private readonly busy = new Array<boolean>(SLOTS).fill(false);
  private slot = 0;
  private fill = 0;
  private waiting: { slot: number; resolve: () => void; reject: (e: Error) => void } | null = null;
  private result: { resolve: (d: Digests) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;
  private closed = false;

  constructor(
    private readonly w: Worker,
    sha256: boolean,
  ) {
    listeners.set(this.id, this);
    if (listeners.size === 1) w.ref();
    w.postMessage({ op: 'open', id: this.id, ring: this.ring, sha256 });
  }

  onReply(r: Reply): void {
    if (r.op === 'freed') {
      this.busy[r.slot] = false;
      if (this.waiting?.slot === r.slot) {
        const wk = this.waiting;
        this.waiting = null;
        wk.resolve();
      }
    } else {
      const res = this.result;
      this.result = null;
      this.release();
      const bytes = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
      if (r.digest === null) res?.reject(new Error('digest worker lost the body'));
      else res?.resolve({ md5: bytes(r.digest), ...(r.sha256 !== null ? { sha256: bytes(r.sha256) } : {}) });
    }
  }

  onFailure(err: Error): void {
    this.failure = err;
    this.waiting?.reject(err);
    this.waiting = null;
    this.result?.reject(err);
    this.result = null;
  }

  private release(): void {
    if (!listeners.delete(this.id)) return;
    if (listeners.size === 0) this.w.unref();
  }

  private post(): void {
    if (this.fill === 0) return;
    this.busy[this.slot] = true;
    this.w.postMessage({ op: 'update', id: this.id, slot: this.slot, off: this.slot * SLOT_BYTES, len: this.fill });
    this.slot = (this.slot + 1) % SLOTS;
    this.fill = 0;
  }

  private slotFree(): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    if (!this.busy[this.slot]) return undefined;
    return new Promise((resolve, reject) => {
      this.waiting = { slot: this.slot, resolve, reject };
    });
  }

  update(data: Buffer): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    let pos = 0;
    while (pos < data.length) {
      const wait = this.slotFree();
      if (wait) return wait.then(() => this.update(data.subarray(pos)));
      const n = Math.min(SLOT_BYTES - this.fill, data.length - pos);
      this.view.set(data.subarray(pos, pos + n), this.slot * SLOT_BYTES + this.fill);
      this.fill += n;
      pos += n;
      if (this.fill === SLOT_BYTES) this.post();
    }
    return undefined;
  }

  async digest(): Promise<Digests> {
    // The slot being filled is free by construction: only a partial slot is left to post.
    this.post();
    if (this.failure) throw this.failure;
    return new Promise<Digests>((resolve, reject) => {
      this.result = { resolve, reject };
      this.w.postMessage({ op: 'digest', id: this.id });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (listeners.has(this.id)) this.w.postMessage({ op: 'drop', id: this.id });
    this.release();
  }
}

/** Digests of a body of `size` bytes: on the shared worker when it is large enough to be worth it. */
export function createBodyDigests(size: number, sha256: boolean): BodyDigests {
  const w = size >= OFFLOAD_MIN_BYTES ? sharedWorker() : undefined;
  return w ? new WorkerDigests(w, sha256) : new InlineDigests(sha256);
}
