import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { embeddedConfig } from '../../src/config/load.js';
import { openGateway } from '../../src/gateway/gateway.js';
import { startS3Server } from '../../src/s3/server.js';
import { createLogger } from '../../src/util/logger.js';
import { createMetrics } from '../../src/util/metrics.js';

export interface Creds {
  accessKey: string;
  secretKey: string;
}

/**
 * A JS SDK client as `user`, or unsigned for null (the SDK's way of sending no signature at all, as boto3's UNSIGNED
 * and `aws --no-sign-request`). Clients are remembered in `made` so a suite can destroy them.
 */
export function sdkClient(endpoint: string, user: Creds | null, made: S3Client[]): S3Client {
  const c = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    maxAttempts: 1,
    ...(user ? { credentials: { accessKeyId: user.accessKey, secretAccessKey: user.secretKey } } : { credentials: { accessKeyId: '', secretAccessKey: '' }, signer: { sign: async (r) => r } }),
  });
  made.push(c);
  return c;
}

/** "STATUS Code" of a refused call, or 'succeeded'. */
export async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof S3ServiceException) return `${err.$metadata.httpStatusCode} ${err.name}`;
    throw err;
  }
  return 'succeeded';
}

export interface SdkGateway {
  url: string;
  dir: string;
  close(): Promise<void>;
}

/** An embedded gateway (small segments) with these users, on a free port, for a suite of SDK checks. */
export async function startSdkGateway(prefix: string, users: Array<Creds & { buckets: Record<string, 'read' | 'write' | 'admin'> }>): Promise<SdkGateway> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const config = embeddedConfig(dir, { cold: { segmentSize: '1MiB', chunkSize: '64KiB' }, users });
  const logger = createLogger('silent');
  const metrics = createMetrics();
  const gateway = await openGateway(config, { logger, metrics, background: false });
  const server = await startS3Server({ service: gateway.service, config, logger, metrics });
  return {
    url: server.url,
    dir,
    close: async () => {
      await server.close();
      await gateway.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
