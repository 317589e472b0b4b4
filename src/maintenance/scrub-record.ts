import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makePrivateDir, PRIVATE_FILE_MODE } from '../util/private-files.js';
import type { ScrubSummary } from './scrub.js';

/** The outcome of the last whole scrub (or repair, which scrubs first), for `tessera status` and the console. */
export interface ScrubRecord {
  kind: 'scrub' | 'repair';
  finishedAt: string;
  durationMs: number;
  summary: ScrubSummary & { rebuilt?: number; failed?: number };
}

function fileIn(dataDir: string): string {
  return path.join(dataDir, 'last-scrub.json');
}

/**
 * Kept in the gateway's data dir (owner-only; written whole, so a reader never sees half a record). A record that
 * cannot be written does not fail the scrub it reports: false is returned.
 */
export function recordScrub(dataDir: string, record: ScrubRecord): boolean {
  const file = fileIn(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    makePrivateDir(dataDir);
    writeFileSync(tmp, JSON.stringify(record), { mode: PRIVATE_FILE_MODE });
    renameSync(tmp, file);
    return true;
  } catch {
    return false;
  }
}

/** The last record, or undefined when none was written (or it cannot be read: this is a report, never a failure). */
export function lastScrub(dataDir: string): ScrubRecord | undefined {
  try {
    const parsed: unknown = JSON.parse(readFileSync(fileIn(dataDir), 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || !('kind' in parsed) || !('summary' in parsed)) return undefined;
    return parsed as ScrubRecord;
  } catch {
    return undefined;
  }
}
