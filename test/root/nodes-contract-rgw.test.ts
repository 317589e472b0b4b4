import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { S3NodeDriver } from '../../src/cold/nodes/s3.js';
import { createS3Client } from '../../src/util/s3-client.js';
import { describeNodeDriverContract, shardId } from '../helpers/node-driver-contract.js';
import { startRgw } from '../helpers/rgw.js';

// The rgw tier: needs root and a Ceph RGW (started here; the first start installs packages, up to minutes).
describeNodeDriverContract('s3 (a real Ceph RGW)', {
  startTimeoutMs: 600_000,
  pausedDownloadTimeoutMs: 2000,
  async start() {
    const rgw = await startRgw();
    const bucket = 'tessera-contract';
    try {
      const cfg = {
        name: 's3-contract',
        kind: 's3' as const,
        weight: 1,
        endpoint: rgw.endpoint,
        region: 'us-east-1',
        bucket,
        prefix: 'contract/',
        forcePathStyle: true,
        credentials: { accessKeyId: rgw.accessKey, secretAccessKey: rgw.secretKey },
        timeoutMs: 2000,
        maxAttempts: 2,
      };
      const client = createS3Client(cfg);
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      client.destroy();
      return { driver: new S3NodeDriver(cfg), missingHandle: shardId(), stop: () => rgw.stop() };
    } catch (err) {
      await rgw.stop();
      throw err;
    }
  },
});
