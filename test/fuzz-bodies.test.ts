/**
 * Body fuzzing: XML request documents (deep nesting, huge, entity expansion, external entities, random mutations of
 * valid documents) and aws-chunked framing (bad sizes, missing final chunk or trailer, wrong chunk signatures,
 * length mismatches). Every answer honours the S3 contract; a body that is not exactly valid never stores anything.
 */
import { createHash, createHmac } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { CreateBucketCommand, CreateMultipartUploadCommand, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, USERS, type Api } from './helpers/s3-api.js';
import { errorCodeOf, expectS3Contract, send, sha256Hex, sign } from './helpers/fuzz.js';

const BUCKET = 'bodies';
let api: Api;
let host: string;
let caseNo = 0;

beforeAll(async () => {
  api = await startApi();
  host = `127.0.0.1:${api.port}`;
  const client = api.client('admin');
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'keep/me', Body: 'precious' }));
});

afterAll(async () => {
  const a = await send(api.port, sign({ method: 'GET', path: `/${BUCKET}/keep/me` }, host, USERS.admin));
  expect(a.text).toBe('precious');
  await api.close();
});

function md5b64(b: Buffer): string {
  return createHash('md5').update(b).digest('base64');
}

async function headStatus(key: string): Promise<number> {
  return (await send(api.port, sign({ method: 'HEAD', path: `/${BUCKET}/${key}` }, host, USERS.admin))).status;
}

describe('XML bodies', () => {
  const deleteDoc = (keys: string[]): string => `<?xml version="1.0" encoding="UTF-8"?><Delete>${keys.map((k) => `<Object><Key>${k}</Key></Object>`).join('')}</Delete>`;
  const hostile = [
    `<Delete>${'<a>'.repeat(20)}${'</a>'.repeat(20)}</Delete>`,
    `<Delete>${'<a>'.repeat(5000)}${'</a>'.repeat(5000)}</Delete>`,
    `<Delete>${'<Object>'.repeat(100_000)}`,
    `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;"><!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;"><!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;"><!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;"><!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;"><!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]><Delete><Object><Key>&lol9;</Key></Object></Delete>`,
    `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><Delete><Object><Key>&xxe;</Key></Object></Delete>`,
    `<?xml version="1.0"?><!DOCTYPE d SYSTEM "http://127.0.0.1:1/evil.dtd"><Delete><Object><Key>x</Key></Object></Delete>`,
    `<Delete><Object><Key>&#0;</Key></Object></Delete>`,
    `<Delete><Object><Key>&#xD800;</Key></Object></Delete>`,
    `<Delete><Object><Key>&undefined;</Key></Object></Delete>`,
    `<Delete><![CDATA[<Object><Key>keep/me</Key></Object>]]></Delete>`,
    `<Delete><Object><Key></Key></Object></Delete>`,
    `<Delete><Object><Key>${'k'.repeat(2000)}</Key></Object></Delete>`,
    `<Delete><Quiet>maybe</Quiet><Object><Key>f/a</Key></Object></Delete>`,
    '<Delete>',
    '',
    '\u0000\u0001<<<>>>',
    `<Delete>${'x'.repeat(1_100_000)}</Delete>`,
  ];

  it('hostile documents (nesting, size, billion laughs, XXE, bad references) are refused or handled, never expanded', async () => {
    for (const doc of hostile) {
      const body = Buffer.from(doc, 'utf8');
      const wire = sign({ method: 'POST', path: `/${BUCKET}`, query: 'delete=', headers: { 'content-md5': md5b64(body) }, body }, host, USERS.admin);
      const a = await send(api.port, { ...wire, headers: { ...wire.headers, 'content-length': String(body.length) } });
      expectS3Contract(a, `DeleteObjects ${doc.slice(0, 80)}`);
      expect(a.status, doc.slice(0, 80)).not.toBe(500);
      expect(a.text).not.toContain('lollollol');
      expect(a.text).not.toContain('root:');
    }
    expect(await headStatus('keep/me')).toBe(200);
  }, 60_000);

  it('random mutations of valid DeleteObjects, CompleteMultipartUpload and Tagging documents', async () => {
    const client = api.client('admin');
    const upload = await client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'f/mp' }));
    const part = await client.send(new UploadPartCommand({ Bucket: BUCKET, Key: 'f/mp', UploadId: upload.UploadId, PartNumber: 1, Body: 'part-one' }));
    const docs: Array<{ method: string; path: string; query: string; doc: string }> = [
      { method: 'POST', path: `/${BUCKET}`, query: 'delete=', doc: deleteDoc(['f/a', 'f/b', 'f/&amp;c']) },
      {
        method: 'POST',
        path: `/${BUCKET}/f/mp`,
        query: `uploadId=${encodeURIComponent(upload.UploadId!)}`,
        doc: `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${part.ETag!}</ETag></Part></CompleteMultipartUpload>`,
      },
      { method: 'PUT', path: `/${BUCKET}/keep/me`, query: 'tagging=', doc: '<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>' },
    ];
    const mutation = fc.array(
      fc.tuple(fc.constantFrom('insert', 'delete', 'replace', 'duplicate', 'truncate'), fc.nat(), fc.string({ maxLength: 8, unit: fc.constantFrom('<', '>', '/', '&', ';', '"', 'a', 'Key', '\u0000', '\u00ff', ' ', '!', '?', '#', 'x') })),
      { minLength: 1, maxLength: 4 },
    );
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: docs.length - 1 }), mutation, async (which, edits) => {
        const target = docs[which]!;
        let doc = target.doc;
        for (const [kind, pos, text] of edits) {
          const at = pos % (doc.length + 1);
          if (kind === 'insert') doc = doc.slice(0, at) + text + doc.slice(at);
          else if (kind === 'delete') doc = doc.slice(0, at) + doc.slice(at + 1 + (text.length % 5));
          else if (kind === 'replace') doc = doc.slice(0, at) + text + doc.slice(at + text.length);
          else if (kind === 'duplicate') doc = doc.slice(0, at) + doc.slice(at) + doc.slice(at);
          else doc = doc.slice(0, at);
        }
        const body = Buffer.from(doc, 'utf8');
        const wire = sign({ method: target.method, path: target.path, query: target.query, headers: { 'content-md5': md5b64(body) }, body }, host, USERS.admin);
        const a = await send(api.port, { ...wire, headers: { ...wire.headers, 'content-length': String(body.length) } });
        expectS3Contract(a, `${target.method} ${target.path}?${target.query} ${JSON.stringify(doc.slice(0, 200))}`);
      }),
      { numRuns: 1000 },
    );
    // A mutated tagging document may be valid; the object's bytes are what must never change.
    const keep = await send(api.port, sign({ method: 'GET', path: `/${BUCKET}/keep/me` }, host, USERS.admin));
    expect(keep.text).toBe('precious');
  }, 90_000);
});

/** aws-chunked encoding of `data` with chained chunk signatures (or unsigned with a CRC32 trailer). */
function chunkedBody(
  data: Buffer,
  chunkSize: number,
  signing: { key: Buffer; scope: string; amzDate: string; signature: string } | undefined,
  trailer: string | undefined,
): { frames: Buffer[]; text: (i: number) => string } {
  const frames: Buffer[] = [];
  let prev = signing?.signature ?? '';
  const sigFor = (chunk: Buffer): string => {
    const toSign = ['AWS4-HMAC-SHA256-PAYLOAD', signing!.amzDate, signing!.scope, prev, sha256Hex(''), sha256Hex(chunk)].join('\n');
    prev = createHmac('sha256', signing!.key).update(toSign).digest('hex');
    return prev;
  };
  const pieces: Buffer[] = [];
  for (let off = 0; off < data.length; off += chunkSize) pieces.push(data.subarray(off, off + chunkSize));
  pieces.push(Buffer.alloc(0));
  for (const piece of pieces) {
    const head = signing ? `${piece.length.toString(16)};chunk-signature=${sigFor(piece)}\r\n` : `${piece.length.toString(16)}\r\n`;
    const last = piece.length === 0;
    const tail = last ? (trailer !== undefined ? `${trailer}\r\n\r\n` : '\r\n') : '\r\n';
    frames.push(Buffer.concat([Buffer.from(head), piece, Buffer.from(tail)]));
  }
  return { frames, text: (i) => frames[i]!.toString('latin1') };
}

function crc32b64(data: Buffer): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc32(data) >>> 0);
  return b.toString('base64');
}

type Mutation =
  | { kind: 'none' }
  | { kind: 'bad-size'; frame: number; size: string }
  | { kind: 'size-mismatch'; frame: number; delta: number }
  | { kind: 'wrong-signature'; frame: number }
  | { kind: 'drop-final' }
  | { kind: 'drop-frame'; frame: number }
  | { kind: 'decoded-length'; delta: number }
  | { kind: 'missing-crlf'; frame: number }
  | { kind: 'trailing-garbage' };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant<Mutation>({ kind: 'none' }),
  fc.record({ kind: fc.constant('bad-size' as const), frame: fc.nat(), size: fc.constantFrom('zz', '-1', '', 'ffffffffffffffff', '0x10', ' 10', '1 0', '+5') }),
  fc.record({ kind: fc.constant('size-mismatch' as const), frame: fc.nat(), delta: fc.constantFrom(-3, -1, 1, 7) }),
  fc.record({ kind: fc.constant('wrong-signature' as const), frame: fc.nat() }),
  fc.constant<Mutation>({ kind: 'drop-final' }),
  fc.record({ kind: fc.constant('drop-frame' as const), frame: fc.nat() }),
  fc.record({ kind: fc.constant('decoded-length' as const), delta: fc.constantFrom(-1, 1, 1000) }),
  fc.record({ kind: fc.constant('missing-crlf' as const), frame: fc.nat() }),
  fc.constant<Mutation>({ kind: 'trailing-garbage' }),
);

function applyMutation(frames: Buffer[], m: Mutation, signed: boolean): Buffer[] {
  const out = frames.map((f) => Buffer.from(f));
  const dataFrames = out.length - 1;
  const pick = (n: number): number => (dataFrames === 0 ? 0 : n % dataFrames);
  const rewriteHead = (i: number, fn: (head: string) => string): void => {
    const f = out[i]!;
    const eol = f.indexOf('\r\n');
    out[i] = Buffer.concat([Buffer.from(fn(f.subarray(0, eol).toString('latin1')), 'latin1'), f.subarray(eol)]);
  };
  switch (m.kind) {
    case 'bad-size':
      rewriteHead(pick(m.frame), (h) => m.size + h.slice(h.indexOf(';') < 0 ? h.length : h.indexOf(';')));
      break;
    case 'size-mismatch':
      rewriteHead(pick(m.frame), (h) => {
        const semi = h.indexOf(';');
        const size = parseInt(semi < 0 ? h : h.slice(0, semi), 16);
        // Never a no-op: a zero-size chunk shrunk further would stay valid.
        const changed = size + m.delta >= 0 ? size + m.delta : size + 1;
        return changed.toString(16) + (semi < 0 ? '' : h.slice(semi));
      });
      break;
    case 'wrong-signature':
      if (!signed) return applyMutation(frames, { kind: 'drop-final' }, signed);
      rewriteHead(m.frame % out.length, (h) => h.replace(/chunk-signature=([0-9a-f])/, (_s, c: string) => `chunk-signature=${c === '0' ? '1' : '0'}`));
      break;
    case 'drop-final':
      out.pop();
      break;
    case 'drop-frame':
      if (dataFrames === 0) out.pop();
      else out.splice(pick(m.frame), 1);
      break;
    case 'missing-crlf': {
      if (dataFrames === 0) return applyMutation(frames, { kind: 'drop-final' }, signed);
      const i = pick(m.frame);
      out[i] = out[i]!.subarray(0, out[i]!.length - 2);
      break;
    }
    case 'trailing-garbage':
      out.push(Buffer.from('GARBAGE\r\n'));
      break;
    default:
      break;
  }
  return out;
}

describe('aws-chunked framing', () => {
  it('valid streams store exactly the payload; every corruption is a 4xx that stores nothing', async () => {
    let valid = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 70_000 }),
        fc.integer({ min: 8192, max: 40_000 }),
        fc.boolean(),
        mutationArb,
        async (size, chunkSize, signed, mutation) => {
          const key = `f/chunked-${++caseNo}`;
          const data = createHash('sha256').update(String(caseNo)).digest('hex').repeat(Math.ceil(size / 64) + 1).slice(0, size);
          const payload = Buffer.from(data);
          const decodedLength = payload.length + (mutation.kind === 'decoded-length' ? mutation.delta : 0);
          const trailer = signed ? undefined : `x-amz-checksum-crc32:${crc32b64(payload)}`;
          const headers: Record<string, string> = {
            'content-encoding': 'aws-chunked',
            'x-amz-decoded-content-length': String(Math.max(0, decodedLength)),
            'x-amz-content-sha256': signed ? 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' : 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
            ...(signed ? {} : { 'x-amz-trailer': 'x-amz-checksum-crc32' }),
          };
          const wire = sign({ method: 'PUT', path: `/${BUCKET}/${key}`, headers }, host, USERS.admin);
          const { frames } = chunkedBody(payload, chunkSize, signed ? wire.signing : undefined, trailer);
          const body = Buffer.concat(applyMutation(frames, mutation, signed));
          const a = await send(api.port, { ...wire, headers: { ...wire.headers, 'content-length': String(body.length) }, body }, 15_000);
          const what = `${signed ? 'signed' : 'unsigned+trailer'} ${size} B in ${chunkSize} B chunks, ${JSON.stringify(mutation)}`;
          expectS3Contract(a, what);
          const stored = await headStatus(key);
          // The header is clamped at 0, so shrinking an empty payload's length changes nothing: that request is valid.
          if (mutation.kind === 'none' || (mutation.kind === 'decoded-length' && Math.max(0, decodedLength) === payload.length)) {
            valid++;
            expect(a.status, what).toBe(200);
            const got = await send(api.port, sign({ method: 'GET', path: `/${BUCKET}/${key}` }, host, USERS.admin));
            expect(got.body.equals(payload), what).toBe(true);
          } else {
            expect(a.status, `${what}: ${errorCodeOf(a) ?? ''}`).toBeGreaterThanOrEqual(400);
            expect(a.status, what).toBeLessThan(500);
            expect(stored, `${what}: object stored from a corrupt stream`).toBe(404);
          }
        },
      ),
      { numRuns: 400 },
    );
    expect(valid).toBeGreaterThan(10);
  }, 120_000);
});
