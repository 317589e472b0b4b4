import type { NodeConfig } from '../../config/types.js';
import type { NodeDriver } from './driver.js';
import { FsNodeDriver } from './fs.js';
import { HttpNodeDriver } from './http.js';

/** Builds the driver for one configured node. Each driver kind is one case. */
export function createNodeDriver(cfg: NodeConfig): NodeDriver {
  switch (cfg.kind) {
    case 'fs':
      return new FsNodeDriver({ path: cfg.path, name: cfg.name, weight: cfg.weight });
    case 'http':
      return new HttpNodeDriver(cfg);
    case 's3':
    case 'iagon':
      throw new Error(`node ${cfg.name}: ${cfg.kind} driver not built in`);
    default:
      return unknownKind(cfg);
  }
}

function unknownKind(cfg: never): never {
  throw new Error(`unknown node kind ${String((cfg as { kind?: unknown }).kind)}`);
}
