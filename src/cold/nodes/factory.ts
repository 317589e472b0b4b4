import type { NodeConfig } from '../../config/types.js';
import type { NodeDriver } from './driver.js';
import { FsNodeDriver } from './fs.js';
import { HttpNodeDriver } from './http.js';
import { IagonNodeDriver } from './iagon.js';

/**
 * Builds the driver for one configured node. Each driver kind is one case. The S3 driver is loaded only when
 * configured: the AWS SDK costs tens of MB of resident memory that fs/http-only gateways should not pay.
 */
export async function createNodeDriver(cfg: NodeConfig): Promise<NodeDriver> {
  switch (cfg.kind) {
    case 'fs':
      return new FsNodeDriver({ path: cfg.path, name: cfg.name, weight: cfg.weight });
    case 'http':
      return new HttpNodeDriver(cfg);
    case 's3': {
      const { S3NodeDriver } = await import('./s3.js');
      return new S3NodeDriver(cfg);
    }
    case 'iagon':
      return new IagonNodeDriver(cfg);
    default:
      return unknownKind(cfg);
  }
}

function unknownKind(cfg: never): never {
  throw new Error(`unknown node kind ${String((cfg as { kind?: unknown }).kind)}`);
}
