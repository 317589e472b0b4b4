import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeError, type NodeErrorKind } from '../src/cold/nodes/driver.js';
import { isRetryableStatus, kindForStatus, STATUS_FOR_KIND } from '../src/cold/nodes/http-status.js';
import { IagonNodeDriver } from '../src/cold/nodes/iagon.js';
import { classifyS3Failure } from '../src/cold/nodes/s3.js';
import { startIagonContractServer, type IagonContractServer } from './helpers/iagon-contract-server.js';

/** An error shaped like the AWS SDK's service exceptions. */
function s3Error(name: string, status: number | undefined, code?: string): Error {
  const err = Object.assign(new Error(`${name} happened`), { name });
  if (status !== undefined) Object.assign(err, { $metadata: { httpStatusCode: status } });
  if (code !== undefined) Object.assign(err, { Code: code });
  return err;
}

describe('one status -> NodeError kind mapping', () => {
  it('maps the statuses every HTTP driver meets', () => {
    const table: Array<[number, NodeErrorKind]> = [
      [400, 'bad-request'],
      [401, 'auth'],
      [403, 'auth'],
      [404, 'not-found'],
      [408, 'timeout'],
      [409, 'bad-request'],
      [413, 'too-large'],
      [416, 'bad-request'],
      [429, 'unavailable'],
      [500, 'unavailable'],
      [501, 'unavailable'],
      [502, 'unavailable'],
      [503, 'unavailable'],
      [504, 'timeout'],
      [507, 'full'],
      [302, 'unavailable'],
    ];
    expect(table.map(([status]) => [status, kindForStatus(status)])).toEqual(table);
  });

  it('retries throttling and server errors only', () => {
    expect([429, 500, 503, 504, 400, 401, 404, 408, 413].map(isRetryableStatus)).toEqual([true, true, true, true, false, false, false, false, false]);
  });

  it("the node server's status for each kind maps back to that kind (corrupt is a plain 500)", () => {
    for (const [kind, status] of Object.entries(STATUS_FOR_KIND) as Array<[NodeErrorKind, number]>) {
      expect([kind, kindForStatus(status)]).toEqual([kind, kind === 'corrupt' ? 'unavailable' : kind]);
    }
  });

  it('classifies S3 failures by code first, then by the shared status mapping', () => {
    const cases: Array<[Error, NodeErrorKind]> = [
      [s3Error('NoSuchKey', 404), 'not-found'],
      [s3Error('NotFound', 404), 'not-found'],
      [s3Error('NoSuchBucket', 404), 'unavailable'],
      [s3Error('ExpiredToken', 400), 'auth'],
      [s3Error('AccessDenied', 403), 'auth'],
      [s3Error('QuotaExceeded', 403), 'full'],
      [s3Error('EntityTooLarge', 400), 'too-large'],
      [s3Error('RequestTimeout', 400), 'timeout'],
      // Before the shared mapping the S3 driver called these 'unavailable' and 'bad-request'.
      [s3Error('GatewayTimeout', 504), 'timeout'],
      [s3Error('UnknownError', 408), 'timeout'],
      [s3Error('SlowDown', 503), 'unavailable'],
      [s3Error('InvalidRange', 416), 'bad-request'],
      [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'unavailable'],
      [new Error('socket hang up'), 'unavailable'],
    ];
    expect(cases.map(([err, kind]) => [err.name, kind, classifyS3Failure(err)])).toEqual(cases.map(([err, kind]) => [err.name, kind, kind]));
  });
});

describe('the Iagon driver uses the shared mapping', () => {
  let server: IagonContractServer;
  let driver: IagonNodeDriver;
  beforeEach(async () => {
    server = await startIagonContractServer();
    driver = new IagonNodeDriver(
      {
        name: 'iagon-status',
        kind: 'iagon',
        baseUrl: server.baseUrl,
        apiKey: server.apiKey,
        directoryName: 'tessera-status',
        weight: 1,
        timeoutMs: 5000,
        maxAttempts: 2,
        maxFileBytes: server.maxFileBytes,
      },
      { baseDelayMs: 1, maxDelayMs: 5 },
    );
  });
  afterEach(async () => {
    await driver.close();
    await server.close();
  });

  it('a download that stalls mid-body errors its stream with timeout (it was unavailable), and releases the socket', async () => {
    const short = new IagonNodeDriver(
      {
        name: 'iagon-stall',
        kind: 'iagon',
        baseUrl: server.baseUrl,
        apiKey: server.apiKey,
        directoryName: 'tessera-status',
        weight: 1,
        timeoutMs: 500,
        maxAttempts: 1,
        maxFileBytes: server.maxFileBytes,
      },
    );
    try {
      const data = Buffer.alloc(200_000, 3);
      const handle = await short.put('stall', Readable.from([data]), data.length);
      server.stallNext(1);
      const stream = await short.get(handle);
      let received = 0;
      const err = await (async () => {
        for await (const c of stream) received += (c as Buffer).length;
      })().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(NodeError);
      expect([(err as NodeError).kind, received]).toEqual(['timeout', 100_000]);
    } finally {
      await short.close();
    }
  });

  it('a 504 from the API is a timeout (it was unavailable), and is retried', async () => {
    const handle = await driver.put('a504', Readable.from([Buffer.from('x')]), 1);
    server.failNext(2, 504, { pathSuffix: '/storage/download' });
    const err = await driver.get(handle).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NodeError);
    expect([(err as NodeError).kind, (err as NodeError).message]).toEqual(['timeout', expect.stringMatching(/HTTP 504.*after 2 attempt/)]);
  });
});
