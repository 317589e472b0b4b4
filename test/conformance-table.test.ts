/** docs/CONFORMANCE.md's table of S3 operations stays true: every routed operation is listed, every 501 is named. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HANDLERS } from '../src/s3/operations.js';
import { UNIMPLEMENTED_SUBRESOURCES } from '../src/s3/routing.js';

interface Row {
  names: string[];
  status: string;
  text: string;
}

/** "Get/Put/DeleteBucketTagging" -> GetBucketTagging, PutBucketTagging, DeleteBucketTagging. */
function expand(cell: string): string[] {
  return cell.split(' / ').flatMap((part) => {
    const m = /^((?:[A-Z][a-z]+\/)+)([A-Z][a-z]+)(.*)$/.exec(part.trim());
    if (!m) return [part.trim()];
    const verbs = [...m[1]!.split('/').filter((v) => v !== ''), m[2]!];
    return verbs.map((v) => `${v}${m[3]!}`);
  });
}

function rows(): Row[] {
  const doc = readFileSync(new URL('../docs/CONFORMANCE.md', import.meta.url), 'utf8');
  const section = doc.split('## S3 operations')[1]?.split('\n## ')[0] ?? '';
  return section
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| operation') && !l.startsWith('|---'))
    .map((l) => {
      const [op = '', status = '', notes = ''] = l.split('|').slice(1).map((c) => c.trim());
      return { names: expand(op), status, text: `${op} ${notes}`.toLowerCase() };
    });
}

/** Words by which a 501 subresource is named in a "not supported" row. */
const WORDS: Record<string, string> = {
  metadataConfiguration: 'metadata tables',
  metadataTable: 'metadata tables',
  requestPayment: 'request payment',
  select: 'selectobjectcontent',
  'select-type': 'selectobjectcontent',
  session: 'sessions',
  renameObject: 'rename',
};

describe('docs/CONFORMANCE.md operations table', () => {
  it('lists every operation the router serves as supported or partial, and nothing it does not serve', () => {
    const listed = new Set(rows().filter((r) => r.status === 'supported' || r.status === 'partial').flatMap((r) => r.names));
    const served = Object.keys(HANDLERS).filter((op) => op !== 'GetBucketUnconfigured');
    expect(served.filter((op) => !listed.has(op)), 'served but not in the table').toEqual([]);
    expect([...listed].filter((op) => !served.includes(op)), 'in the table but not served').toEqual([]);
  });

  it('names every subresource that answers 501 in a "not supported" row', () => {
    const unsupported = rows().filter((r) => r.status === 'not supported').map((r) => r.text).join(' ');
    const missing = UNIMPLEMENTED_SUBRESOURCES.filter((s) => !unsupported.includes((WORDS[s] ?? s).toLowerCase()));
    expect(missing).toEqual([]);
  });
});
