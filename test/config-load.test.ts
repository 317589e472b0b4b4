import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/errors.js';
import { loadConfig, provisionSecrets } from '../src/config/load.js';

describe('config loading', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'tessera-cfg-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const file = (text: string): string => {
    const f = path.join(dir, 'tessera.yaml');
    writeFileSync(f, text);
    return f;
  };

  it('the embedded default: six fs nodes, 4+2; loading creates nothing, serve provisioning creates the key and credentials once', () => {
    const dataDir = path.join(dir, 'data');
    const first = loadConfig({ env: { TESSERA_DATA_DIR: dataDir } });
    expect(first.config.cold.k).toBe(4);
    expect(first.config.cold.m).toBe(2);
    expect(first.config.cold.nodes.map((n) => n.name)).toEqual(['node1', 'node2', 'node3', 'node4', 'node5', 'node6']);
    expect(first.config.cold.nodes.every((n) => n.kind === 'fs' && n.path.startsWith(path.join(dataDir, 'nodes')))).toBe(true);
    // No side effects: no data dir, no key, no credentials; the config says what is missing.
    expect(existsSync(dataDir)).toBe(false);
    expect(first.config.keys.masterKeys).toEqual([]);
    expect(first.config.users).toEqual([]);
    expect(first.missing).toEqual({ masterKeyFile: path.join(dataDir, 'master.key'), credentialsFile: path.join(dataDir, 'credentials.json') });
    const served = provisionSecrets({ env: { TESSERA_DATA_DIR: dataDir } });
    expect(served.missing).toEqual({});
    expect(served.generatedCredentials).toMatchObject({ accessKey: 'tessera-admin', file: path.join(dataDir, 'credentials.json') });
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dataDir, 'credentials.json')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dataDir, 'master.key')).mode & 0o777).toBe(0o600);
    // A restart reuses what the first start generated; plain loading now finds it.
    const again = provisionSecrets({ env: { TESSERA_DATA_DIR: dataDir } });
    expect(again.generatedCredentials).toBeUndefined();
    const loaded = loadConfig({ env: { TESSERA_DATA_DIR: dataDir } });
    expect(loaded.missing).toEqual({});
    for (const c of [again, loaded]) {
      expect(c.config.users[0]!.secretKey).toBe(served.config.users[0]!.secretKey);
      expect(c.config.keys.masterKeys[0]!.key.equals(served.config.keys.masterKeys[0]!.key)).toBe(true);
    }
  });

  it('provisioning needs nothing when the key and the user come from the environment', () => {
    const dataDir = path.join(dir, 'data');
    const env = { TESSERA_DATA_DIR: dataDir, TESSERA_MASTER_KEY: randomBytes(32).toString('base64'), TESSERA_ACCESS_KEY: 'ak', TESSERA_SECRET_KEY: 'sk-long-enough' };
    expect(loadConfig({ env }).missing).toEqual({});
    provisionSecrets({ env });
    expect(existsSync(dataDir)).toBe(false);
  });

  it('environment variables override the file', () => {
    const f = file(`dataDir: ${dir}\nserver:\n  port: 9100\n`);
    const { config } = loadConfig({ file: f, env: { TESSERA_PORT: '9200', TESSERA_ACCESS_KEY: 'ak', TESSERA_SECRET_KEY: 'sk-long-enough', TESSERA_HOT_BUDGET: '1GiB' } });
    expect(config.server.port).toBe(9200);
    expect(config.users[0]).toMatchObject({ accessKey: 'ak', secretKey: 'sk-long-enough', buckets: { '*': 'admin' } });
    expect(config.hot.budgetBytes).toBe(2 ** 30);
  });

  it('the local cache tier: off with the fs hot tier, on with an S3 one, never the fs hot directory', () => {
    const fsHot = loadConfig({ file: file(`dataDir: ${dir}\n`), env: {} }).config.cache.local;
    expect(fsHot).toMatchObject({ enabled: false, path: path.join(dir, 'cache'), budgetBytes: 2 * 2 ** 30, readAhead: 2 });
    const s3 = `dataDir: ${dir}\nhot:\n  driver: s3\n  s3: { endpoint: 'http://127.0.0.1:1', region: r, bucket: b, forcePathStyle: true }\n`;
    expect(loadConfig({ file: file(s3), env: {} }).config.cache.local.enabled).toBe(true);
    const tuned = loadConfig({ file: file(`${s3}cache:\n  local: { path: /var/cache/t, budget: 10GiB, readAhead: 0, readAheadBudget: 1GiB }\n`), env: {} }).config.cache.local;
    expect(tuned).toEqual({ enabled: true, path: '/var/cache/t', budgetBytes: 10 * 2 ** 30, readAhead: 0, readAheadBytes: 2 ** 30 });
    expect(() => loadConfig({ file: file(`dataDir: ${dir}\ncache:\n  local: { enabled: true, path: hot }\n`), env: {} })).toThrow(/cache.local.path/);
    expect(() => loadConfig({ file: file(`dataDir: ${dir}\ncache:\n  local: { size: 1GiB }\n`), env: {} })).toThrow(ConfigError);
  });

  it('parses sizes, durations and per-bucket permissions', () => {
    const f = file(`dataDir: ${dir}
users:
  - { accessKey: reader, secretKey: s1, buckets: { datasets: read } }
cold:
  segmentSize: 8MiB
  chunkSize: 64KiB
  hedgeAfter: 250ms
`);
    const { config } = loadConfig({ file: f, env: {} });
    expect(config.cold.segmentSize).toBe(8 * 2 ** 20);
    expect(config.cold.chunkSize).toBe(64 * 1024);
    expect(config.cold.hedgeAfterMs).toBe(250);
    expect(config.users).toEqual([{ accessKey: 'reader', secretKey: 's1', buckets: { datasets: 'read' } }]);
  });

  const bad: Array<[string, string, string]> = [
    ['unknown key', 'cold:\n  kk: 3\n', 'cold.kk'],
    ['bad port', 'server:\n  port: 70000\n', 'server.port'],
    ['segment not a multiple of chunk', 'cold:\n  segmentSize: 100000\n  chunkSize: 65536\n', 'cold.segmentSize'],
    ['too few nodes', 'cold:\n  k: 4\n  m: 2\n  nodes:\n    - { name: a, kind: fs }\n', 'cold.nodes'],
    ['bad permission', 'users:\n  - { accessKey: a, secretKey: b, buckets: { x: owner } }\n', 'users[0].buckets.x'],
    ['bad master key', 'keys:\n  masterKeys:\n    - { id: a, key: tooshort }\n', 'keys.masterKeys[0]'],
    ['bad size', 'hot:\n  budget: lots\n', 'hot.budget'],
    [
      'iagon shard over 40 MB',
      'cold:\n  k: 1\n  m: 1\n  segmentSize: 64MiB\n  nodes:\n    - { name: a, kind: iagon, apiKey: k }\n    - { name: b, kind: fs }\n',
      'cold.nodes[0].maxFileBytes',
    ],
  ];
  for (const [what, yaml, key] of bad) {
    it(`fails at load naming the key: ${what}`, () => {
      const f = file(`dataDir: ${dir}\n${yaml}`);
      let caught: unknown;
      try {
        loadConfig({ file: f, env: {} });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).key).toBe(key);
      expect((caught as Error).message).toContain(key);
    });
  }

  it('never echoes a secret in a config error', () => {
    const f = file(`dataDir: ${dir}\nusers:\n  - { accessKey: a, secretKey: SUPER-SECRET-VALUE, buckets: { b: nope } }\n`);
    expect(() => loadConfig({ file: f, env: {} })).toThrow(ConfigError);
    try {
      loadConfig({ file: f, env: {} });
    } catch (err) {
      expect((err as Error).message).not.toContain('SUPER-SECRET-VALUE');
    }
    expect(readFileSync(f, 'utf8')).toContain('SUPER-SECRET-VALUE');
  });

  it('the console: on at 9001 in the embedded default, off for a file without a console section, on with one', () => {
    const embedded = loadConfig({ env: { TESSERA_DATA_DIR: path.join(dir, 'data') } }).config.console;
    expect(embedded).toMatchObject({ enabled: true, port: 9001, host: '127.0.0.1', sessionTtlMs: 8 * 3600_000, sessionIdleMs: 30 * 60_000 });
    expect(loadConfig({ file: file(`dataDir: ${dir}\n`), env: {} }).config.console.enabled).toBe(false);
    const own = loadConfig({ file: file(`dataDir: ${dir}\nserver: { host: 0.0.0.0 }\nconsole: { port: 9101, sessionIdle: 5m }\n`), env: {} }).config.console;
    expect(own).toMatchObject({ enabled: true, port: 9101, host: '0.0.0.0', sessionIdleMs: 300_000 });
    expect(loadConfig({ file: file(`dataDir: ${dir}\n`), env: { TESSERA_CONSOLE_PORT: '0' } }).config.console).toMatchObject({ enabled: true, port: 0 });
    expect(loadConfig({ env: { TESSERA_DATA_DIR: dir }, overrides: { console: { enabled: false } } }).config.console.enabled).toBe(false);
    expect(() => loadConfig({ file: file(`dataDir: ${dir}\nconsole: { prot: 9001 }\n`), env: {} })).toThrow(/console\.prot/);
    expect(() => loadConfig({ file: file(`dataDir: ${dir}\nconsole: { sessionTtl: 0s }\n`), env: {} })).toThrow(ConfigError);
  });
});
