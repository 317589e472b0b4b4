import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The import graph of a source tree and the checks on it: imports against the allowed direction between layers
 * (top-level directories) and import cycles, both between directories and between files. Pure functions over plain
 * data, so the checker itself is tested on synthetic graphs (test/layers.test.ts).
 */

/** A relative import from one file to another, both as paths relative to the tree's root ("cold/cold-store.ts"). */
export interface ImportEdge {
  from: string;
  to: string;
}

/**
 * Per layer, what it may import: a layer name ("meta") allows every file of that layer, a file path
 * ("meta/errors.ts") only that file. A layer always may import itself.
 */
export type LayerRules = Readonly<Record<string, readonly string[]>>;

/** Files no layer may import unless it is listed (e.g. the S3 error type: protocol-facing layers only). */
export type RestrictedFiles = Readonly<Record<string, readonly string[]>>;

// Static imports and re-exports (`import x from`, `import type`, `export ... from`, side-effect `import '...'`) and
// dynamic/type-position `import('...')`. Only relative specifiers: packages are outside the layering.
const STATIC_IMPORT = /^\s*(?:import|export)\s[^;]*?\bfrom\s*['"](\.{1,2}\/[^'"]+)['"]/gm;
const SIDE_EFFECT_IMPORT = /^\s*import\s*['"](\.{1,2}\/[^'"]+)['"]/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

/** Relative import specifiers of one module's source text. */
export function importSpecifiers(source: string): string[] {
  const found: string[] = [];
  for (const re of [STATIC_IMPORT, SIDE_EFFECT_IMPORT, DYNAMIC_IMPORT]) for (const m of source.matchAll(re)) found.push(m[1]!);
  return found;
}

/** Every .ts file under root, as root-relative paths with forward slashes. */
export function sourceFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path.relative(root, full).split(path.sep).join('/'));
    }
  };
  walk(root);
  return out.sort();
}

/** The import edges among the .ts files under root (ESM specifiers name the emitted .js file). */
export function importGraph(root: string): { files: string[]; edges: ImportEdge[] } {
  const files = sourceFiles(root);
  const edges: ImportEdge[] = [];
  for (const from of files) {
    for (const spec of importSpecifiers(readFileSync(path.join(root, from), 'utf8'))) {
      const to = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec)).replace(/\.js$/, '.ts');
      edges.push({ from, to });
    }
  }
  return { files, edges };
}

/** A file's layer: its top-level directory ("cold/nodes/fs.ts" is in "cold"); files at the root are in "". */
export function layerOf(file: string): string {
  const slash = file.indexOf('/');
  return slash < 0 ? '' : file.slice(0, slash);
}

/** Strongly connected components with more than one member (or a self-loop): every import cycle, once each. */
export function cycles(nodes: Iterable<string>, edges: Iterable<ImportEdge>): string[][] {
  const adjacency = new Map<string, string[]>();
  for (const n of nodes) adjacency.set(n, []);
  const selfLoops = new Set<string>();
  for (const { from, to } of edges) {
    if (!adjacency.has(from)) adjacency.set(from, []);
    if (!adjacency.has(to)) adjacency.set(to, []);
    adjacency.get(from)!.push(to);
    if (from === to) selfLoops.add(from);
  }
  // Tarjan's algorithm, iterative so deep graphs cannot overflow the stack.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const found: string[][] = [];
  let next = 0;
  for (const start of adjacency.keys()) {
    if (index.has(start)) continue;
    const work: Array<{ node: string; i: number }> = [{ node: start, i: 0 }];
    index.set(start, next);
    low.set(start, next++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const targets = adjacency.get(frame.node)!;
      if (frame.i < targets.length) {
        const w = targets[frame.i++]!;
        if (!index.has(w)) {
          index.set(w, next);
          low.set(w, next++);
          stack.push(w);
          onStack.add(w);
          work.push({ node: w, i: 0 });
        } else if (onStack.has(w)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(w);
        } while (w !== frame.node);
        if (component.length > 1 || selfLoops.has(frame.node)) found.push(component.sort());
      }
    }
  }
  return found;
}

export interface LayerReport {
  /** Imports a layer's rules do not allow, "from -> to". */
  forbidden: string[];
  /** Files in a layer the rules do not know (a new top-level directory needs a rule). */
  unknownLayers: string[];
  /** Import cycles between directories (layers). */
  layerCycles: string[][];
  /** Import cycles between files. */
  fileCycles: string[][];
}

export function checkLayers(graph: { files: string[]; edges: ImportEdge[] }, rules: LayerRules, restricted: RestrictedFiles = {}): LayerReport {
  const forbidden: string[] = [];
  const unknown = new Set<string>();
  const layerEdges: ImportEdge[] = [];
  for (const file of graph.files) if (!(layerOf(file) in rules)) unknown.add(layerOf(file));
  for (const { from, to } of graph.edges) {
    const a = layerOf(from);
    const b = layerOf(to);
    const allowedFor = restricted[to];
    if (allowedFor && a !== b && !allowedFor.includes(a)) forbidden.push(`${from} -> ${to} (only ${allowedFor.join(', ')} may import it)`);
    if (a === b) continue;
    layerEdges.push({ from: a, to: b });
    const allowed = rules[a] ?? [];
    if (!allowed.includes(b) && !allowed.includes(to)) forbidden.push(`${from} -> ${to} (${a} may not import ${b})`);
  }
  return {
    forbidden,
    unknownLayers: [...unknown].sort(),
    layerCycles: cycles(Object.keys(rules), layerEdges),
    fileCycles: cycles(graph.files, graph.edges),
  };
}
