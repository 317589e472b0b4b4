import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkLayers, cycles, importGraph, importSpecifiers, type ImportEdge } from './layering/import-graph.js';
import { LAYER_RULES, RESTRICTED_FILES } from './layering/layers.js';

const SRC = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');

const edge = (from: string, to: string): ImportEdge => ({ from, to });

describe('the source tree is layered one way', () => {
  const graph = importGraph(SRC);
  const report = checkLayers(graph, LAYER_RULES, RESTRICTED_FILES);

  it('reads a real graph (guards against a checker that sees nothing)', () => {
    expect(graph.files.length).toBeGreaterThan(50);
    expect(graph.edges).toContainEqual(edge('gateway/object-service.ts', 'meta/store.ts'));
    // Type-position import('...') counts too.
    expect(graph.edges).toContainEqual(edge('gateway/object-service.ts', 'gateway/object-reader.ts'));
    for (const { to } of graph.edges) expect(graph.files, `import of a missing file ${to}`).toContain(to);
  });
  it('has a rule for every directory', () => expect(report.unknownLayers).toEqual([]));
  it('imports only in the allowed direction', () => expect(report.forbidden).toEqual([]));
  it('has no import cycle between directories', () => expect(report.layerCycles).toEqual([]));
  it('has no import cycle between files', () => expect(report.fileCycles).toEqual([]));
  it('the allowed-direction table itself is a DAG', () => {
    const ruleEdges = Object.entries(LAYER_RULES).flatMap(([from, allowed]) => allowed.map((to) => edge(from, to.split('/')[0]!)));
    expect(cycles(Object.keys(LAYER_RULES), ruleEdges)).toEqual([]);
  });
});

describe('import parsing', () => {
  it('finds static, type-only, re-export, side-effect and dynamic imports, and skips packages', () => {
    const source = [
      "import { a } from './a.js';",
      "import type { B } from '../b/b.js';",
      'import {\n  c,\n  type D,\n} from "./c.js";',
      "export { e } from './e.js';",
      "import './side-effect.js';",
      "const f = await import('./f.js');",
      "let g: import('./g.js').G;",
      "import { readFile } from 'node:fs';",
      "import pino from 'pino';",
    ].join('\n');
    expect(importSpecifiers(source).sort()).toEqual(['../b/b.js', './a.js', './c.js', './e.js', './f.js', './g.js', './side-effect.js']);
  });
});

describe('the checker on synthetic graphs', () => {
  const rules = { model: [], util: ['model'], config: ['model', 'util'], meta: ['model'], cold: ['model', 'util', 'config'] };
  const files = ['model/manifest.ts', 'util/s3-client.ts', 'config/load.ts', 'meta/store.ts', 'cold/cold-store.ts', 'cold/segment-reader.ts'];

  it('passes a graph that follows the rules', () => {
    const report = checkLayers({ files, edges: [edge('cold/cold-store.ts', 'config/load.ts'), edge('meta/store.ts', 'model/manifest.ts')] }, rules);
    expect(report).toEqual({ forbidden: [], unknownLayers: [], layerCycles: [], fileCycles: [] });
  });
  it('reports the cold <-> meta cycle of the old tree', () => {
    const report = checkLayers({ files, edges: [edge('cold/cold-store.ts', 'meta/store.ts'), edge('meta/store.ts', 'cold/segment-reader.ts')] }, rules);
    expect(report.layerCycles).toEqual([['cold', 'meta']]);
    expect(report.forbidden).toEqual(['cold/cold-store.ts -> meta/store.ts (cold may not import meta)', 'meta/store.ts -> cold/segment-reader.ts (meta may not import cold)']);
  });
  it('reports the config -> cold -> util -> config cycle even when a table allowed every edge', () => {
    const permissive = { ...rules, config: ['cold'], cold: ['util'], util: ['config'] };
    const edges = [edge('config/load.ts', 'cold/cold-store.ts'), edge('cold/cold-store.ts', 'util/s3-client.ts'), edge('util/s3-client.ts', 'config/load.ts')];
    const report = checkLayers({ files, edges }, permissive);
    expect(report.forbidden).toEqual([]);
    expect(report.layerCycles).toEqual([['cold', 'config', 'util']]);
    expect(report.fileCycles).toEqual([['cold/cold-store.ts', 'config/load.ts', 'util/s3-client.ts']]);
  });
  it('reports a file cycle inside one directory (cold-store <-> segment-reader)', () => {
    const report = checkLayers({ files, edges: [edge('cold/cold-store.ts', 'cold/segment-reader.ts'), edge('cold/segment-reader.ts', 'cold/cold-store.ts')] }, rules);
    expect(report.layerCycles).toEqual([]);
    expect(report.fileCycles).toEqual([['cold/cold-store.ts', 'cold/segment-reader.ts']]);
  });
  it('allows only the listed file when a rule names one', () => {
    const narrow = { ...rules, s3: ['meta/errors.ts'] };
    const withS3 = [...files, 's3/mapping.ts', 'meta/errors.ts'];
    const report = checkLayers({ files: withS3, edges: [edge('s3/mapping.ts', 'meta/errors.ts'), edge('s3/mapping.ts', 'meta/store.ts')] }, narrow);
    expect(report.forbidden).toEqual(['s3/mapping.ts -> meta/store.ts (s3 may not import meta)']);
  });
  it('enforces restricted files and unknown directories', () => {
    const report = checkLayers(
      { files: [...files, 'extra/x.ts'], edges: [edge('cold/cold-store.ts', 'util/s3-client.ts')] },
      rules,
      { 'util/s3-client.ts': ['hot'] },
    );
    expect(report.forbidden).toEqual(['cold/cold-store.ts -> util/s3-client.ts (only hot may import it)']);
    expect(report.unknownLayers).toEqual(['extra']);
  });
  it('finds a self-import and every cycle of a larger graph once', () => {
    const found = cycles(['a', 'b', 'c', 'd', 'e'], [edge('a', 'b'), edge('b', 'a'), edge('c', 'd'), edge('d', 'e'), edge('e', 'c'), edge('b', 'c'), edge('e', 'e')]);
    expect(found.sort()).toEqual([['a', 'b'], ['c', 'd', 'e']]);
  });
});

describe('the checker on a tree with the old layout (end to end over files)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tessera-layers-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (file: string, text: string): void => {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  };

  it('fails on the cycles the review found', () => {
    // The shapes of the tree before the split, reduced to their imports.
    write('cold/cold-store.ts', "import { openSegmentRange } from './segment-reader.js';\nimport type { ObjectRecord } from '../meta/types.js';\nimport type { ColdConfig } from '../config/types.js';\n");
    write('cold/segment-reader.ts', "import type { ColdStore } from './cold-store.js';\n");
    write('cold/manifest.ts', 'export interface ObjectManifest { objectId: string }\n');
    write('cold/codec/layout.ts', "import { S3Error } from '../../util/s3-error.js';\n");
    write('meta/types.ts', "import type { ObjectManifest } from '../cold/manifest.js';\n");
    write('config/types.ts', 'export interface ColdConfig { k: number }\n');
    write('config/load.ts', "import { shardSize } from '../cold/codec/layout.js';\n");
    write('util/s3-client.ts', "import type { S3ConnectionConfig } from '../config/types.js';\n");
    write('util/s3-error.ts', 'export class S3Error extends Error {}\n');
    const report = checkLayers(importGraph(dir), LAYER_RULES, RESTRICTED_FILES);
    expect(report.fileCycles).toEqual([['cold/cold-store.ts', 'cold/segment-reader.ts']]);
    expect(report.layerCycles).toEqual([['cold', 'config', 'meta', 'util']]);
    expect(report.forbidden).toEqual(
      expect.arrayContaining([
        'cold/cold-store.ts -> meta/types.ts (cold may not import meta)',
        'config/load.ts -> cold/codec/layout.ts (config may not import cold)',
        'util/s3-client.ts -> config/types.ts (util may not import config)',
      ]),
    );
  });
});
