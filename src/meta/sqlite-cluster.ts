import type Database from 'better-sqlite3';

/**
 * Tables for running several gateways over one store: cluster-wide leases and the heal-on-read repair queue.
 * IF NOT EXISTS, so a database created before them gets them when first opened by this version.
 */
export const CLUSTER_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS leases (
  name       TEXT PRIMARY KEY,
  holder     TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS repair_queue (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  object_id     TEXT NOT NULL,
  seg_id        TEXT NOT NULL,
  claimed_by    TEXT,
  claimed_until INTEGER NOT NULL DEFAULT 0,
  UNIQUE (object_id, seg_id)
);
CREATE INDEX IF NOT EXISTS repair_queue_claimable ON repair_queue (claimed_until, id);
`;

/** Statements for leases, the repair queue and the cluster-wide hot budget, prepared once per connection. */
export function prepareClusterStatements(db: Database.Database) {
  return {
    // Taken when free, expired, or already ours; the WHERE of the upsert makes the check and the write one statement.
    takeLease: db.prepare<{ name: string; holder: string; expires: number; now: number }>(
      `INSERT INTO leases (name, holder, expires_at) VALUES (@name, @holder, @expires)
        ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
        WHERE leases.holder = excluded.holder OR leases.expires_at <= @now`,
    ),
    leaseHolder: db.prepare<[string], { holder: string; expires_at: number }>('SELECT holder, expires_at FROM leases WHERE name = ?'),
    releaseLease: db.prepare<[string, string]>('DELETE FROM leases WHERE name = ? AND holder = ?'),

    queueRepair: db.prepare<[string, string]>('INSERT OR IGNORE INTO repair_queue (object_id, seg_id) VALUES (?, ?)'),
    countRepairs: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM repair_queue'),
    anyClaimable: db.prepare<[number], { one: number }>('SELECT 1 AS one FROM repair_queue WHERE claimed_until <= ? LIMIT 1'),
    claimRepairs: db.prepare<[string, number, number, number], { id: number; object_id: string; seg_id: string }>(
      `UPDATE repair_queue SET claimed_by = ?, claimed_until = ?
        WHERE id IN (SELECT id FROM repair_queue WHERE claimed_until <= ? ORDER BY claimed_until, id LIMIT ?)
        RETURNING id, object_id, seg_id`,
    ),
    finishRepair: db.prepare<[number, string]>('DELETE FROM repair_queue WHERE id = ? AND claimed_by = ?'),

    markPromoting: db.prepare<[number, number, string]>(
      "UPDATE objects SET hot_state = 'promoting', hot_bytes = ?, last_access = MAX(last_access, ?) WHERE object_id = ? AND hot_state = 'cold'",
    ),
    stalePromotions: db.prepare<[number], { object_id: string }>(
      "SELECT object_id FROM objects WHERE hot_state = 'promoting' AND last_access < ?",
    ),
    resetPromotion: db.prepare<[string]>("UPDATE objects SET hot_state = 'cold', hot_bytes = 0 WHERE object_id = ? AND hot_state = 'promoting'"),

    manifestById: db.prepare<[string], { manifest: string }>('SELECT manifest FROM objects WHERE object_id = ?'),
    rewrapUpload: db.prepare<[string, string, string, string]>('UPDATE uploads SET key_id = ?, wrapped_key = ? WHERE upload_id = ? AND key_id = ?'),
    partManifestsOfUpload: db.prepare<[string], { part_number: number; manifest: string }>('SELECT part_number, manifest FROM parts WHERE upload_id = ?'),
    updatePartManifest: db.prepare<[string, string, number]>('UPDATE parts SET manifest = ? WHERE upload_id = ? AND part_number = ?'),
  };
}

export type ClusterStatements = ReturnType<typeof prepareClusterStatements>;

/** Key-order-independent JSON, so a manifest read back from any store compares equal to the one that was written. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
