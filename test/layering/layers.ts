import type { LayerRules, RestrictedFiles } from './import-graph.js';

/**
 * The allowed import direction between the top-level directories of src/ (docs/ARCHITECTURE.md states the same
 * table). A layer may import the layers listed for it (or only the listed files of one) and itself, nothing else;
 * test/layers.test.ts fails on any other import and on any import cycle.
 */
export const LAYER_RULES: LayerRules = {
  // Shared data types and the format's pure arithmetic: imports nothing.
  model: [],
  util: ['model'],
  config: ['model', 'util'],
  meta: ['model', 'util', 'config'],
  hot: ['model', 'util', 'config'],
  cold: ['model', 'util', 'config'],
  // Scrub, repair, the repair queue, recover-index and orphan gc: above cold and meta, below the gateway.
  maintenance: ['cold', 'meta', 'model', 'util', 'config'],
  gateway: ['maintenance', 'cold', 'meta', 'hot', 'model', 'util', 'config'],
  // The protocol sees the inner layers only through the gateway, plus their error kinds for the one mapping.
  s3: ['gateway', 'meta/errors.ts', 'cold/errors.ts', 'model', 'util', 'config'],
  // The operators' web console: reads through the gateway and the maintenance jobs (the same code as the CLI).
  console: ['gateway', 'maintenance', 'cold', 'meta', 'hot', 'model', 'util', 'config'],
  // The shard node server reuses the fs node driver.
  node: ['cold', 'model', 'util', 'config'],
  cli: ['s3', 'console', 'gateway', 'maintenance', 'cold', 'meta', 'hot', 'node', 'model', 'util', 'config'],
};

/**
 * Only the protocol speaks S3 errors: the layers below raise their own kinds, mapped in src/s3/error-mapping.ts. (The
 * directory rules already keep every inner layer out of s3; this also keeps the CLI from raising S3 errors.)
 */
export const RESTRICTED_FILES: RestrictedFiles = {
  's3/s3-error.ts': ['s3'],
};
