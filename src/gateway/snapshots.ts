import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { ColdStore } from '../cold/cold-store.js';
import { needsRepair, scrubOf } from '../maintenance/scrub.js';
import type { MetaStore } from '../meta/store.js';
import type { ObjectRecord, SnapshotEntry, SnapshotRecord } from '../model/records.js';
import type { Logger } from '../util/logger.js';
import { GatewayError } from './errors.js';

/**
 * Dataset snapshots (lakeFS commits and DVC hashes are the models): an immutable list of the current versions under a
 * bucket prefix, each with the SHA-256 of its plaintext, and a Merkle root over the list, the dataset's content hash.
 * The store holds every listed version against permanent deletion while the snapshot exists.
 */

/** Snapshot names are bucket names: a snapshot is read by S3 clients as a read-only bucket of that name. */
const NAME = /^(?!\d+\.\d+\.\d+\.\d+$)(?!xn--)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

const BATCH = 500;

/** A leaf of the Merkle tree: one entry, canonically encoded (key order is the tree's order). */
export function leafHash(e: Pick<SnapshotEntry, 'key' | 'versionId' | 'size' | 'etag' | 'sha256'>): Buffer {
  return createHash('sha256')
    .update(Buffer.from([0]))
    .update(JSON.stringify([e.key, e.versionId, e.size, e.etag, e.sha256]))
    .digest();
}

/**
 * The root over leaves in order: pairs hashed level by level (0x01 | left | right), an odd last node carried up as it
 * is; the root of no entries is SHA-256 of nothing. Documented in docs/SNAPSHOTS.md so anyone can recompute it.
 */
export function merkleRoot(leaves: readonly Buffer[]): string {
  if (leaves.length === 0) return createHash('sha256').digest('hex');
  let level = [...leaves];
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const right = level[i + 1];
      next.push(right === undefined ? level[i]! : createHash('sha256').update(Buffer.from([1])).update(level[i]!).update(right).digest());
    }
    level = next;
  }
  return level[0]!.toString('hex');
}

export interface SnapshotProgress {
  objects: number;
  bytes: number;
}

export interface VerifyReport {
  name: string;
  objects: number;
  bytes: number;
  /** Entries whose version is gone (it never should be: the snapshot holds it). */
  missing: string[];
  /** Entries whose bytes hash to something else than the manifest says. */
  mismatched: string[];
  /** Entries whose bytes could not be read at all. */
  unreadable: string[];
  /** Shards found missing or corrupt (queued for repair; the object still reads while k shards are good). */
  damagedShards: number;
  /** The root recomputed from the entries equals the stored one. */
  rootMatches: boolean;
  ok: boolean;
}

export interface SnapshotDiff {
  added: SnapshotEntry[];
  removed: SnapshotEntry[];
  changed: Array<{ key: string; from: SnapshotEntry; to: SnapshotEntry }>;
}

export interface SnapshotDeps {
  meta: MetaStore;
  cold: ColdStore;
  /** The plaintext of a version, from the cold tier (verify must read the durable copy, not a cache). */
  openCold(record: ObjectRecord): Promise<Readable>;
  /** The plaintext by the usual read path (hot first). */
  open(record: ObjectRecord): Promise<Readable>;
  log: Logger;
}

async function sha256Of(stream: Readable): Promise<{ hex: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    h.update(chunk);
    bytes += chunk.length;
  }
  return { hex: h.digest('hex'), bytes };
}

export class Snapshots {
  constructor(private readonly d: SnapshotDeps) {}

  get(name: string): Promise<SnapshotRecord | null> {
    return this.d.meta.getSnapshot(name);
  }

  list(): Promise<SnapshotRecord[]> {
    return this.d.meta.listSnapshots();
  }

  /** One page of entries in key order (after `after`, under `prefix`). */
  entriesPage(name: string, query: { after?: string; prefix?: string; limit: number }): Promise<SnapshotEntry[]> {
    return this.d.meta.snapshotEntries(name, query);
  }

  /** Entries in key order, page by page. */
  async *entries(name: string, prefix?: string): AsyncIterable<SnapshotEntry> {
    let after: string | undefined;
    for (;;) {
      const page = await this.d.meta.snapshotEntries(name, { ...(after !== undefined ? { after } : {}), ...(prefix !== undefined ? { prefix } : {}), limit: 1000 });
      yield* page;
      if (page.length < 1000) return;
      after = page.at(-1)!.key;
    }
  }

  private async requireReady(name: string): Promise<SnapshotRecord> {
    const s = await this.d.meta.getSnapshot(name);
    if (s === null || s.state !== 'ready') throw new GatewayError('NoSuchSnapshot', name);
    return s;
  }

  /**
   * Records every current version under bucket/prefix. Not atomic across keys (as a listing is not): a key written
   * while this runs may be in it in its old or its new version; every version listed is held from the moment it is.
   */
  async create(bucket: string, prefix: string, name: string, owner?: string, onProgress?: (p: SnapshotProgress) => void): Promise<SnapshotRecord> {
    if (!NAME.test(name)) throw new GatewayError('InvalidSnapshotName', name);
    if ((await this.d.meta.getBucket(name)) !== null) throw new GatewayError('NameTaken', name);
    if ((await this.d.meta.getBucket(bucket)) === null) throw new GatewayError('NoSuchBucket', bucket);
    if ((await this.d.meta.getBucketSetting(bucket, 'versioning')) !== 'Enabled') {
      throw new GatewayError('InvalidBucketState', bucket, {}, 'Versioning must be Enabled on a bucket to snapshot it (a snapshot holds versions).');
    }
    const record: SnapshotRecord = { name, bucket, prefix, createdAt: Date.now(), ...(owner !== undefined ? { owner } : {}), state: 'creating', objects: 0, bytes: 0 };
    await this.d.meta.createSnapshot(record);
    try {
      const leaves: Buffer[] = [];
      let bytes = 0;
      let after: string | undefined;
      for (;;) {
        const page = await this.d.meta.listObjects(bucket, { prefix, maxKeys: 1000, ...(after !== undefined ? { after } : {}) });
        const batch: SnapshotEntry[] = [];
        for (const summary of page.objects) {
          const entry = await this.entryOf(bucket, summary.key);
          if (entry !== null) batch.push(entry);
        }
        for (let i = 0; i < batch.length; i += BATCH) {
          const part = batch.slice(i, i + BATCH);
          const gone = new Set(await this.d.meta.addSnapshotEntries(name, part));
          for (const e of part) {
            if (gone.has(e.key)) {
              // Replaced or deleted since it was read: the key's version now, if any.
              const again = await this.entryOf(bucket, e.key);
              if (again === null || (await this.d.meta.addSnapshotEntries(name, [again])).length > 0) continue;
              leaves.push(leafHash(again));
              bytes += again.size;
            } else {
              leaves.push(leafHash(e));
              bytes += e.size;
            }
          }
        }
        onProgress?.({ objects: leaves.length, bytes });
        if (!page.isTruncated || page.lastReturned === undefined) break;
        after = page.lastReturned;
      }
      const summary = { root: merkleRoot(leaves), objects: leaves.length, bytes };
      await this.d.meta.finishSnapshot(name, summary);
      return { ...record, state: 'ready', ...summary };
    } catch (err) {
      await this.d.meta.deleteSnapshot(name).catch(() => undefined);
      throw err;
    }
  }

  /** The entry for the key's latest version (its SHA-256 computed and kept if it was not known), or null. */
  private async entryOf(bucket: string, key: string): Promise<SnapshotEntry | null> {
    const record = await this.d.meta.getObject(bucket, key);
    if (record === null) return null;
    let sha256 = record.sha256;
    if (sha256 === undefined) {
      sha256 = (await sha256Of(await this.d.open(record))).hex;
      await this.d.meta.setContentSha256(record.objectId, sha256);
    }
    return { key, versionId: record.versionId ?? 'null', objectId: record.objectId, size: record.size, etag: record.etag, sha256, lastModified: record.lastModified };
  }

  async delete(name: string): Promise<void> {
    if (!(await this.d.meta.deleteSnapshot(name))) throw new GatewayError('NoSuchSnapshot', name);
  }

  /** Re-reads every object from the cold tier and checks it against the manifest, and the manifest against its root. */
  async verify(name: string, onProgress?: (p: SnapshotProgress) => void): Promise<VerifyReport> {
    const snap = await this.requireReady(name);
    const report: VerifyReport = { name, objects: 0, bytes: 0, missing: [], mismatched: [], unreadable: [], damagedShards: 0, rootMatches: false, ok: false };
    const leaves: Buffer[] = [];
    for await (const e of this.entries(name)) {
      leaves.push(leafHash(e));
      report.objects++;
      const version = await this.d.meta.getVersion(snap.bucket, e.key, e.versionId);
      if (version === null || !('object' in version) || version.object.objectId !== e.objectId) {
        report.missing.push(e.key);
        continue;
      }
      const record = version.object;
      for (const segment of record.manifest.segments) {
        const statuses = await scrubOf(this.d.cold, record.manifest, segment);
        if (!needsRepair(statuses)) continue;
        statuses.forEach((s, i) => {
          if (s !== 'missing' && s !== 'corrupt') return;
          report.damagedShards++;
          // Heal: the same path a read that meets a bad shard takes (the repair queue rebuilds it).
          this.d.cold.reportProblem(record.objectId, segment, i, s, new Error('found by snapshot verify'));
        });
      }
      try {
        const { hex, bytes } = await sha256Of(await this.d.openCold(record));
        report.bytes += bytes;
        if (hex !== e.sha256 || bytes !== e.size) report.mismatched.push(e.key);
      } catch (err) {
        report.unreadable.push(e.key);
        this.d.log.warn({ snapshot: name, key: e.key, err: (err as Error).message }, 'snapshot object could not be read');
      }
      onProgress?.({ objects: report.objects, bytes: report.bytes });
    }
    report.rootMatches = merkleRoot(leaves) === snap.root && leaves.length === snap.objects;
    report.ok = report.rootMatches && report.missing.length === 0 && report.mismatched.length === 0 && report.unreadable.length === 0;
    return report;
  }

  /** What changed from snapshot a to snapshot b, by key. */
  async diff(a: string, b: string): Promise<SnapshotDiff> {
    await this.requireReady(a);
    await this.requireReady(b);
    const out: SnapshotDiff = { added: [], removed: [], changed: [] };
    const left = this.entries(a)[Symbol.asyncIterator]();
    const right = this.entries(b)[Symbol.asyncIterator]();
    let l = await left.next();
    let r = await right.next();
    while (!l.done || !r.done) {
      const cmp = l.done ? 1 : r.done ? -1 : Buffer.compare(Buffer.from(l.value.key), Buffer.from(r.value.key));
      if (cmp < 0 && !l.done) {
        out.removed.push(l.value);
        l = await left.next();
      } else if (cmp > 0 && !r.done) {
        out.added.push(r.value);
        r = await right.next();
      } else if (!l.done && !r.done) {
        if (l.value.sha256 !== r.value.sha256 || l.value.versionId !== r.value.versionId) out.changed.push({ key: l.value.key, from: l.value, to: r.value });
        l = await left.next();
        r = await right.next();
      }
    }
    return out;
  }

  /** The manifest as one JSON document (for a model card), streamed a line per entry. */
  async *exportJson(name: string): AsyncIterable<string> {
    const s = await this.requireReady(name);
    const head = {
      format: 'tessera-snapshot-v1',
      name: s.name,
      bucket: s.bucket,
      prefix: s.prefix,
      createdAt: new Date(s.createdAt).toISOString(),
      objects: s.objects,
      bytes: s.bytes,
      merkleRoot: s.root,
      leaf: 'sha256(0x00 || JSON [key, versionId, size, etag, sha256])',
      node: 'sha256(0x01 || left || right), odd last node carried up',
    };
    const text = JSON.stringify(head, null, 2);
    yield `${text.slice(0, -2)},\n  "entries": [\n`;
    let first = true;
    for await (const e of this.entries(name)) {
      yield `${first ? '' : ',\n'}    ${JSON.stringify({ key: e.key, versionId: e.versionId, size: e.size, etag: e.etag, sha256: e.sha256, lastModified: new Date(e.lastModified).toISOString() })}`;
      first = false;
    }
    yield `${first ? '' : '\n'}  ]\n}\n`;
  }
}
