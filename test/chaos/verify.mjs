/**
 * End-of-run invariants. The expected state of a key follows from the OpLog:
 *
 *   an operation X is *superseded* when some acknowledged operation B on the same key started after X ended
 *   (B's effect is ordered after X's for certain). The visible state must be the effect of some operation that is not
 *   superseded: the body hash of a PUT, or "absent" for a DELETE (or for a key's initial state).
 *
 * So every acknowledged PUT is readable unless a later acknowledged write/delete replaced it, an acknowledged DELETE
 * sticks unless a later write exists, concurrent acknowledged writes may land in either order, and an unacknowledged
 * write may or may not be visible, but only whole: the bytes must equal one attempted body.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { BUCKET } from './workload.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ABSENT = 'absent';

export function allowedStates(ops) {
  const all = [{ kind: 'initial', start: -Infinity, end: -Infinity, acked: true }, ...ops];
  const acked = all.filter((o) => o.acked);
  const allowed = new Set();
  for (const x of all) {
    const superseded = acked.some((b) => b !== x && b.start > x.end);
    if (!superseded) allowed.add(x.kind === 'put' ? x.hash : ABSENT);
  }
  return allowed;
}

/** Reads every key the run touched; returns key -> observed state (hash or 'absent'), counting verified bytes. */
export async function readFinalStates(workload, opLog, stats) {
  const states = new Map();
  const keys = [...opLog.byKey.keys()].sort();
  for (const key of keys) {
    let r;
    // A transient 503 right after a restart is retried (bounded); anything else is recorded as unreadable.
    for (let attempt = 0; attempt < 6; attempt++) {
      r = await workload.getObject(key, false);
      if (!r.error) break;
      await new Promise((res) => setTimeout(res, 500 * (attempt + 1)));
    }
    if (r.error) {
      states.set(key, `error: ${r.error.$metadata?.httpStatusCode ?? ''} ${r.error.name}: ${r.error.message}`);
      continue;
    }
    states.set(key, r.found ? r.hash : ABSENT);
    if (r.found) {
      stats.objectsVerified++;
      stats.bytesVerified += r.size;
    }
  }
  return states;
}

export function checkStates(states, opLog) {
  const problems = [];
  for (const [key, state] of states) {
    const allowed = allowedStates(opLog.byKey.get(key) ?? []);
    if (!allowed.has(state)) {
      const ops = (opLog.byKey.get(key) ?? []).map((o) => `${o.kind}${o.kind === 'put' ? `(${o.size}B ${o.hash.slice(0, 8)})` : ''} ${o.acked ? 'ACK' : 'fail'} [${o.start.toFixed(0)}..${o.end === Infinity ? 'inf' : o.end.toFixed(0)}]`);
      problems.push(`${key}: visible ${state.length === 64 ? state.slice(0, 8) : state}, allowed {${[...allowed].map((a) => (a.length === 64 ? a.slice(0, 8) : a)).join(', ')}}; ops: ${ops.join('; ')}`);
    }
  }
  return problems;
}

export async function listAllKeys(client) {
  const keys = new Map();
  let token;
  for (let page = 0; page < 1000; page++) {
    const res = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, ContinuationToken: token }));
    for (const o of res.Contents ?? []) keys.set(o.Key, o.Size);
    token = res.NextContinuationToken;
    if (!token) break;
  }
  return keys;
}

/**
 * Shards on the nodes that no committed object, upload part or queued garbage item references; counted with the
 * product's own config loader, store and node drivers (from dist), listing the nodes directly.
 */
export async function countOrphans(configFile) {
  const { loadConfig } = await import(path.join(ROOT, 'dist/config/load.js'));
  const { openMetaStore } = await import(path.join(ROOT, 'dist/meta/open.js'));
  const { createNodeDriver } = await import(path.join(ROOT, 'dist/cold/nodes/factory.js'));
  const { config } = loadConfig({ file: configFile, env: {} });
  // The configured store, SQLite or PostgreSQL (the multi-gateway run may use either).
  const meta = await openMetaStore(config.meta);
  const committed = new Set();
  const queued = new Set();
  const add = (set, manifest) => {
    for (const seg of manifest.segments) for (const s of seg.shards) if (s.handle) set.add(`${s.node}\0${s.handle}`);
    for (const c of manifest.copies ?? []) if (c.handle) set.add(`${c.node}\0${c.handle}`);
  };
  try {
    for await (const item of meta.iterateManifests()) add(committed, item.manifest);
    for (const item of await meta.dueGarbage(8.64e15, 2 ** 31 - 1)) add(queued, item.manifest);
  } finally {
    await meta.close();
  }
  let listed = 0;
  let orphans = 0;
  let queuedOnly = 0;
  const examples = [];
  for (const nodeCfg of config.cold.nodes) {
    const driver = await createNodeDriver(nodeCfg);
    try {
      for await (const item of driver.list()) {
        listed++;
        const ref = `${nodeCfg.name}\0${item.handle}`;
        if (committed.has(ref)) continue;
        if (queued.has(ref)) {
          queuedOnly++;
          continue;
        }
        orphans++;
        if (examples.length < 5) examples.push(`${nodeCfg.name}/${item.handle} (${item.size} B)`);
      }
    } finally {
      await driver.close();
    }
  }
  return { listed, referenced: committed.size, orphans, queuedOnly, examples };
}
