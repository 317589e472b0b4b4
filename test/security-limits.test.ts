/**
 * Resource limits a hostile client runs into, against a real in-process gateway (docs/SECURITY.md names each test):
 * the 16 KiB header cap, the slowloris headers timeout, and the boundaries of the DeleteObjects (1000 keys) and part
 * number (10,000) limits. The over-limit cases themselves (1001 keys, partNumber 10001) and maxConcurrentRequests ->
 * 503 SlowDown are asserted in test/s3-api-edges.test.ts and test/s3-api-server.test.ts and not repeated here.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import aws4 from 'aws4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendRaw } from './helpers/fuzz.js';
import { errorCode, raw, startApi, USERS, type Api, type RawResponse } from './helpers/s3-api.js';

let api: Api;
const md5b64 = (b: string): string => createHash('md5').update(b).digest('base64');

beforeAll(async () => {
  api = await startApi();
  expect((await raw(api, { method: 'PUT', path: '/lim' })).status).toBe(200);
  expect((await raw(api, { method: 'PUT', path: '/lim/sentinel', body: 'still here' })).status).toBe(200);
});
afterAll(async () => {
  await api?.close();
});

function expectErrorResponse(res: RawResponse, status: number, code: string): void {
  expect({ status: res.status, code: errorCode(res) }).toEqual({ status, code });
  expect(res.text).toContain(`<RequestId>${String(res.headers['x-amz-request-id'])}</RequestId>`);
}

async function expectStillServing(): Promise<void> {
  const res = await raw(api, { method: 'GET', path: '/lim/sentinel' });
  expect([res.status, res.text]).toEqual([200, 'still here']);
}

describe('header section cap (16 KiB)', () => {
  it('one oversized header is refused with 431 before authentication; the server keeps serving', async () => {
    const r = await sendRaw(api.port, `GET /lim/sentinel HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(r.text).toMatch(/^HTTP\/1\.1 431 /);
    expect(r.text).not.toContain('still here');
    expect(r.closedByServer).toBe(true);
    await expectStillServing();
  });

  it('many small headers adding up past the cap are refused the same way', async () => {
    const headers = Array.from({ length: 1200 }, (_, i) => `X-H${i}: ${'v'.repeat(12)}\r\n`).join('');
    const r = await sendRaw(api.port, `GET /lim/sentinel HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n`);
    expect(r.text).toMatch(/^HTTP\/1\.1 431 /);
    await expectStillServing();
  });

  it('a signed request with 12 KiB of headers, under the cap, is served normally', async () => {
    const res = await raw(api, { method: 'GET', path: '/lim/sentinel', headers: { 'x-pad': 'p'.repeat(12 * 1024) } });
    expect([res.status, res.text]).toEqual([200, 'still here']);
  });
});

/**
 * A slowloris client: sends the request line, then one header byte per `intervalMs`, `bytes` times, then ends the
 * header block. Resolves with whether the whole header block was sent before the server closed the connection, and
 * whatever the server wrote.
 */
function slowHeaders(port: number, intervalMs: number, bytes: number): Promise<{ headersCompleted: boolean; answer: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let sent = 0;
    let headersCompleted = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      clearInterval(timer);
      socket.destroy();
      resolve({ headersCompleted, answer: Buffer.concat(chunks).toString('latin1') });
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      // Once the headers went out, any answer means the server waited for all of them.
      if (headersCompleted) finish();
    });
    socket.on('error', () => undefined);
    socket.on('close', finish);
    socket.on('connect', () => {
      socket.write('GET /lim/sentinel HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
      timer = setInterval(() => {
        if (socket.destroyed) return;
        if (sent < bytes) {
          socket.write('s');
          sent++;
          return;
        }
        clearInterval(timer);
        headersCompleted = true;
        socket.write('\r\n\r\n');
        setTimeout(finish, 5_000);
      }, intervalMs);
    });
  });
}

describe('slowloris', () => {
  it('a client dribbling its headers past server.headersTimeout is cut off before it finishes them', async () => {
    // A fresh server, so the test does not depend on how long another one has been listening. headersTimeout is 1 s;
    // the client needs 8 s to send its header block, so a working timeout cuts it long before the end.
    const slow = await startApi({ server: { headersTimeout: '1s' } });
    try {
      expect(slow.config.server.headersTimeoutMs).toBe(1000);
      const outcome = await slowHeaders(slow.port, 200, 40);
      expect(outcome.headersCompleted, `server waited for the whole header block; answered: ${outcome.answer.slice(0, 60)}`).toBe(false);
      if (outcome.answer !== '') expect(outcome.answer).toMatch(/^HTTP\/1\.1 408 /);
      const ok = await raw(slow, { method: 'PUT', path: '/after' });
      expect(ok.status).toBe(200);
    } finally {
      await slow.close();
    }
  }, 30_000);

  it('with server.requestTimeout set, a PUT whose body stalls is dropped and frees its in-flight slot', async () => {
    // One slot only: if the stalled upload kept it, the next request would be 503 SlowDown forever.
    const slow = await startApi({ server: { requestTimeout: '1s', maxConcurrentRequests: 1 } });
    try {
      expect((await raw(slow, { method: 'PUT', path: '/stall' })).status).toBe(200);
      const stalled = await new Promise<{ closedByServer: boolean; answer: string }>((resolve) => {
        const socket = net.connect(slow.port, '127.0.0.1');
        const chunks: Buffer[] = [];
        let closedByServer = false;
        const guard = setTimeout(() => socket.destroy(), 15_000);
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('end', () => (closedByServer = true));
        socket.on('error', () => (closedByServer = true));
        socket.on('close', () => {
          clearTimeout(guard);
          resolve({ closedByServer, answer: Buffer.concat(chunks).toString('latin1') });
        });
        // Properly signed (an anonymous one is refused before its body), then 10 of the 1000 promised bytes.
        const body = Buffer.alloc(1000, 0x78);
        const signed = { host: `127.0.0.1:${slow.port}`, path: '/stall/k', method: 'PUT', service: 's3', region: 'us-east-1', headers: {} as Record<string, string>, body };
        aws4.sign(signed, { accessKeyId: USERS.admin.accessKey, secretAccessKey: USERS.admin.secretKey });
        const head = Object.entries({ ...signed.headers, 'Content-Length': '1000' }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
        socket.write(`PUT /stall/k HTTP/1.1\r\n${head}\r\n`);
        socket.write(body.subarray(0, 10));
      });
      expect(stalled.closedByServer).toBe(true);
      expect(stalled.answer).not.toMatch(/^HTTP\/1\.1 2/);
      expect((await raw(slow, { method: 'HEAD', path: '/stall/k' })).status).toBe(404);
      const next = await raw(slow, { method: 'GET', path: '/stall?list-type=2' });
      expect([next.status, errorCode(next)]).toEqual([200, undefined]);
    } finally {
      await slow.close();
    }
  }, 30_000);
});

describe('malformed uploads do not deny service to other writers', () => {
  it('uploads with a wrong payload hash or cut off mid-body fail alone; node breakers stay closed and the next PUT works', async () => {
    // Its own gateway: if these uploads tripped the node circuit breakers, every later write here would be 503.
    const own = await startApi();
    try {
      expect((await raw(own, { method: 'PUT', path: '/dos' })).status).toBe(200);
      const big = randomBytes(1_500_000); // more than one 1 MiB segment: shard uploads to every node are under way
      for (let i = 0; i < 6; i++) {
        const lying = await raw(own, { method: 'PUT', path: `/dos/lie${i}`, body: big, headers: { 'X-Amz-Content-Sha256': createHash('sha256').update(`not ${i}`).digest('hex') } });
        expect(lying.status).toBe(400);
        await cutOffUpload(own.port, `/dos/cut${i}`, big);
      }
      for (let i = 0; i < 6; i++) {
        expect((await raw(own, { method: 'HEAD', path: `/dos/lie${i}` })).status).toBe(404);
        expect((await raw(own, { method: 'HEAD', path: `/dos/cut${i}` })).status).toBe(404);
      }
      const ok = await raw(own, { method: 'PUT', path: '/dos/good', body: big });
      expect([ok.status, errorCode(ok)]).toEqual([200, undefined]);
      expect((await raw(own, { method: 'GET', path: '/dos/good' })).body.equals(big)).toBe(true);
    } finally {
      await own.close();
    }
  }, 40_000);
});

/** A signed PUT that sends half its body, waits until the server has had time to start storing it, then vanishes. */
async function cutOffUpload(port: number, path: string, body: Buffer): Promise<void> {
  const opts = { host: `127.0.0.1:${port}`, path, method: 'PUT', service: 's3', region: 'us-east-1', headers: {} as Record<string, string>, body };
  aws4.sign(opts, { accessKeyId: USERS.admin.accessKey, secretAccessKey: USERS.admin.secretKey });
  const req = http.request({ host: '127.0.0.1', port, path, method: 'PUT', headers: opts.headers, agent: false });
  req.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => req.on('close', () => resolve()));
  await new Promise<void>((resolve) => req.write(body.subarray(0, Math.floor(body.length * 0.8)), () => resolve()));
  await new Promise((r) => setTimeout(r, 200));
  req.destroy();
  await closed;
}

describe('DeleteObjects key limit (1000), at the boundary', () => {
  const deleteXml = (keys: string[]): string => `<Delete>${keys.map((k) => `<Object><Key>${k}</Key></Object>`).join('')}</Delete>`;
  const postDelete = (xml: string): Promise<RawResponse> =>
    raw(api, { method: 'POST', path: '/lim?delete', body: xml, headers: { 'content-md5': md5b64(xml) } });

  it('1001 keys are refused as a whole (MalformedXML, nothing deleted); exactly 1000 are accepted', async () => {
    expect((await raw(api, { method: 'PUT', path: '/lim/victim', body: 'v' })).status).toBe(200);
    const others = Array.from({ length: 1000 }, (_, i) => `absent-${i}`);
    expectErrorResponse(await postDelete(deleteXml(['victim', ...others])), 400, 'MalformedXML');
    expect((await raw(api, { method: 'HEAD', path: '/lim/victim' })).status).toBe(200);

    const ok = await postDelete(deleteXml(['victim', ...others.slice(0, 999)]));
    expect(ok.status).toBe(200);
    expect(ok.text.match(/<Deleted>/g)?.length).toBe(1000);
    expect((await raw(api, { method: 'HEAD', path: '/lim/victim' })).status).toBe(404);
    await expectStillServing();
  });
});

describe('part number limit (10,000), at the boundary', () => {
  it('partNumber 10000 is accepted; 10001 and malformed numbers are InvalidArgument and record nothing', async () => {
    const created = await raw(api, { method: 'POST', path: '/lim/mp?uploads' });
    const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(created.text)?.[1] ?? '';
    expect(uploadId).not.toBe('');
    const uploadPart = (n: string): Promise<RawResponse> => raw(api, { method: 'PUT', path: `/lim/mp?partNumber=${n}&uploadId=${uploadId}`, body: 'part' });
    expect((await uploadPart('10000')).status).toBe(200);
    for (const n of ['10001', '4294967297', '99999999999999999999', '-1', '1e4', '10000.5', '0x10']) {
      expectErrorResponse(await uploadPart(n), 400, 'InvalidArgument');
    }
    const parts = await raw(api, { method: 'GET', path: `/lim/mp?uploadId=${uploadId}` });
    expect(parts.status).toBe(200);
    expect(parts.text.match(/<PartNumber>(\d+)<\/PartNumber>/g)).toEqual(['<PartNumber>10000</PartNumber>']);
    expect((await raw(api, { method: 'DELETE', path: `/lim/mp?uploadId=${uploadId}` })).status).toBe(204);
  });
});
