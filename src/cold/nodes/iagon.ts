import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { IagonNodeConfig } from '../../config/types.js';
import { ConfigError } from '../../config/errors.js';
import { abortErrorFrom } from '../../util/abort.js';
import { guardStalls } from '../../util/watchdog.js';
import { NodeError, type NodeDriver, type NodeHealth } from './driver.js';
import {
  createDirectoryRequest,
  downloadRequest,
  fileMtimeMs,
  fileSize,
  IAGON_PATHS,
  IAGON_VISIBILITY,
  isSafeFileName,
  keyVerifyRequest,
  listingQuery,
  uploadFields,
  type IagonFileEntry,
  type IagonListing,
} from './iagon-api.js';
import { IagonClient, multipartBody, type IagonRetryTuning } from './iagon-client.js';

/**
 * Throws a ConfigError when the cold tier's largest shard cannot be stored on this node (Iagon refuses files over
 * maxFileBytes), so the mistake shows at start instead of as failed PUTs. `maxShardBytes` is the stored size of the
 * largest shard the configured segmentSize / k produce (ciphertext, tags included).
 */
export function validateIagonConfig(cfg: IagonNodeConfig, maxShardBytes: number): void {
  const key = `cold.nodes.${cfg.name}`;
  if (cfg.apiKey === undefined && cfg.token === undefined) throw new ConfigError(`${key}.apiKey`, 'an Iagon node needs apiKey or token');
  try {
    new URL(cfg.baseUrl);
  } catch {
    throw new ConfigError(`${key}.baseUrl`, 'is not a URL');
  }
  if (maxShardBytes > cfg.maxFileBytes) {
    throw new ConfigError(
      `${key}.maxFileBytes`,
      `shards of up to ${maxShardBytes} bytes exceed this Iagon node's per-file limit of ${cfg.maxFileBytes} bytes; ` +
        'lower cold.segmentSize or raise cold.k',
    );
  }
}

/**
 * A node backed by the Iagon storage API (iagon-api.ts): each shard is one private file in one directory; the handle
 * is its _id. HTTP, retries and timeouts are the client's (iagon-client.ts).
 */
export class IagonNodeDriver implements NodeDriver {
  readonly name: string;
  readonly kind = 'iagon' as const;
  readonly weight: number;
  private readonly cfg: IagonNodeConfig;
  private readonly client: IagonClient;
  private directoryIdPromise: Promise<string> | undefined;

  constructor(cfg: IagonNodeConfig, tuning: IagonRetryTuning = {}) {
    this.cfg = cfg;
    this.name = cfg.name;
    this.weight = cfg.weight;
    this.client = new IagonClient(
      {
        node: cfg.name,
        baseUrl: cfg.baseUrl,
        timeoutMs: cfg.timeoutMs,
        maxAttempts: cfg.maxAttempts,
        ...(cfg.apiKey !== undefined ? { apiKey: cfg.apiKey } : {}),
        ...(cfg.token !== undefined ? { token: cfg.token } : {}),
      },
      tuning,
    );
    if (cfg.directoryId !== undefined) this.directoryIdPromise = Promise.resolve(cfg.directoryId);
  }

  async put(shardId: string, body: Readable, length: number, signal?: AbortSignal): Promise<string> {
    try {
      if (!isSafeFileName(shardId)) throw new NodeError(this.name, 'bad-request', 'put: shard id has characters Iagon file names cannot carry');
      if (!Number.isSafeInteger(length) || length < 0) throw new NodeError(this.name, 'bad-request', `put ${shardId}: invalid shard length ${length}`);
      if (length > this.cfg.maxFileBytes) {
        throw new NodeError(this.name, 'too-large', `put ${shardId}: ${length} bytes exceed the per-file limit of ${this.cfg.maxFileBytes}`);
      }
    } catch (err) {
      body.destroy();
      throw err;
    }
    const directoryId = await this.directoryId(signal).catch((err: unknown) => {
      body.destroy();
      throw err;
    });
    const fields = uploadFields({
      filename: shardId,
      visibility: IAGON_VISIBILITY,
      directoryId,
      ...(this.cfg.password !== undefined ? { password: this.cfg.password } : {}),
    });
    const op = `put ${shardId}`;
    const data = await this.client.callForData<{ _id?: unknown }>(
      { op, method: 'POST', path: IAGON_PATHS.upload, body: multipartBody(fields, shardId, body, length) },
      signal,
    );
    if (typeof data?._id !== 'string' || data._id === '') {
      throw new NodeError(this.name, 'bad-request', `${op}: upload answer has no data._id`);
    }
    return data._id;
  }

  async get(handle: string, range?: { offset: number; length: number }, signal?: AbortSignal): Promise<Readable> {
    const json = downloadRequest(handle, this.cfg.password);
    const res = await this.client.call({ op: `get ${handle}`, method: 'POST', path: IAGON_PATHS.download, json, streamed: true }, signal);
    // The API has no ranges: skip the prefix here and stop reading once the range is delivered.
    return Readable.from(this.slice(res, handle, range?.offset ?? 0, range?.length, signal), { objectMode: false });
  }

  async delete(handle: string, signal?: AbortSignal): Promise<void> {
    try {
      const res = await this.client.call({ op: `delete ${handle}`, method: 'DELETE', path: IAGON_PATHS.file(handle) }, signal);
      res.resume();
    } catch (err) {
      if (err instanceof NodeError && err.kind === 'not-found') return;
      throw err;
    }
  }

  async stat(handle: string, signal?: AbortSignal): Promise<{ size: number } | null> {
    // No per-file metadata call is known: look the file up in the directory listing.
    for (const file of await this.listFiles(signal)) {
      if (file._id === handle) return { size: fileSize(file) };
    }
    return null;
  }

  async *list(signal?: AbortSignal): AsyncIterable<{ handle: string; size: number; mtimeMs?: number }> {
    for (const file of await this.listFiles(signal)) {
      const mtimeMs = fileMtimeMs(file);
      yield mtimeMs !== undefined ? { handle: file._id, size: fileSize(file), mtimeMs } : { handle: file._id, size: fileSize(file) };
    }
  }

  async health(signal?: AbortSignal): Promise<NodeHealth> {
    try {
      if (this.cfg.apiKey !== undefined) {
        await this.client.callForData(
          { op: 'verify key', method: 'POST', path: IAGON_PATHS.keyVerify, json: keyVerifyRequest(this.cfg.apiKey), anonymous: true },
          signal,
        );
        await this.directoryId(signal);
      } else {
        await this.listFiles(signal);
      }
      return { ok: true };
    } catch (err) {
      const kind = err instanceof NodeError ? err.kind : 'unavailable';
      return { ok: false, reason: `${kind}: ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  async close(): Promise<void> {
    this.client.close();
  }

  // ------------------------------------------------------------------ directory

  private directoryId(signal?: AbortSignal): Promise<string> {
    this.directoryIdPromise ??= this.findOrCreateDirectory(signal).catch((err: unknown) => {
      this.directoryIdPromise = undefined;
      throw err;
    });
    return this.directoryIdPromise;
  }

  private async findOrCreateDirectory(signal?: AbortSignal): Promise<string> {
    const name = this.cfg.directoryName;
    const root = await this.listing(undefined, signal);
    const found = (root.directories ?? []).find((d) => d.directory_name === name && !d.parent_directory_id);
    if (found) return found._id;
    const op = `create directory ${name}`;
    const data = await this.client.callForData<{ _id?: unknown }>(
      { op, method: 'POST', path: IAGON_PATHS.directory, json: createDirectoryRequest(name) },
      signal,
    );
    if (typeof data?._id !== 'string') throw new NodeError(this.name, 'bad-request', `${op}: answer has no data._id`);
    return data._id;
  }

  private async listing(parentId: string | undefined, signal?: AbortSignal): Promise<IagonListing> {
    const query = listingQuery(parentId);
    return (await this.client.callForData<IagonListing>({ op: 'list', method: 'GET', path: IAGON_PATHS.directory, query }, signal)) ?? {};
  }

  private async listFiles(signal?: AbortSignal): Promise<IagonFileEntry[]> {
    const dir = await this.directoryId(signal);
    const files = (await this.listing(dir, signal)).files ?? [];
    return files.filter((f) => typeof f._id === 'string' && (f.parent_directory_id === undefined || f.parent_directory_id === dir));
  }

  /** Bytes [offset, offset+length) of a download; reading stops (and the connection is dropped) after the range. */
  private async *slice(
    res: IncomingMessage,
    handle: string,
    offset: number,
    length: number | undefined,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<Buffer> {
    const end = length === undefined ? Infinity : offset + length;
    let pos = 0;
    // Stalls count only while we wait for the node's bytes: time the caller spends paused is not a stall.
    const body = guardStalls(res, this.cfg.timeoutMs, () =>
      new NodeError(this.name, 'timeout', `get ${handle}: download stalled for ${this.cfg.timeoutMs} ms after ${pos} bytes`),
    );
    try {
      if (end === offset) return;
      for await (const raw of body) {
        const chunk = raw as Buffer;
        const chunkEnd = pos + chunk.length;
        if (chunkEnd > offset) {
          const from = Math.max(0, offset - pos);
          const to = Math.min(chunk.length, end - pos);
          if (to > from) yield chunk.subarray(from, to);
        }
        pos = chunkEnd;
        if (pos >= end) return;
      }
    } catch (err) {
      // The caller's abort cut the download: not the node's failure.
      if (signal?.aborted) throw abortErrorFrom(signal);
      if (err instanceof NodeError) throw err;
      throw new NodeError(this.name, 'unavailable', `get ${handle}: download interrupted after ${pos} bytes`, { cause: err });
    } finally {
      if (!res.complete) body.destroy();
    }
    if (end !== Infinity || pos < offset) {
      throw new NodeError(this.name, 'corrupt', `get ${handle}: shard has ${pos} bytes, fewer than the ${end === Infinity ? offset : end} requested`);
    }
  }
}
