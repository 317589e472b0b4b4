import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../src/cli/usage.js';
import { ManagedProcess, runCli } from './helpers/cluster.js';

/** The built CLI (dist/cli/main.js, what an operator runs): help, usage mistakes, who may create keys. */
describe('tessera CLI', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'tessera-cli-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let n = 0;
  const freshDir = (): string => path.join(root, `d${n++}`);

  const commandLines = [...Object.keys(COMMANDS).map((c) => [c]), ['nodes', 'check'], ['help', 'gc']];
  it.each(commandLines)('`tessera %s --help` prints its usage and exits 0, touching nothing', async (...cmd) => {
    const dataDir = freshDir();
    const args = cmd[0] === 'help' ? cmd : [...cmd, '--help'];
    const r = await runCli(args, 60_000, { TESSERA_DATA_DIR: dataDir });
    expect(r.stderr).toBe('');
    const name = cmd[0] === 'help' ? cmd[1]! : cmd[0]!;
    expect(r.stdout).toContain(`Usage: tessera ${COMMANDS[name]!.synopsis}`);
    expect(r.code).toBe(0);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('`tessera --help` lists every command', async () => {
    const r = await runCli(['--help'], 60_000);
    expect(r.code).toBe(0);
    for (const c of Object.values(COMMANDS)) expect(r.stdout).toContain(c.synopsis);
  });

  const mistakes: Array<[string, string[], RegExp]> = [
    ['no command', [], /^tessera: name a command/],
    ['an unknown command', ['frobnicate'], /^tessera: unknown command frobnicate/],
    ['an unknown flag', ['serve', '--bogus'], /^tessera serve: Unknown option '--bogus'/],
    ['a flag of another command', ['scrub', '--force'], /^tessera scrub: Unknown option '--force'/],
    ['a missing argument', ['warm'], /^tessera warm: name a BUCKET or BUCKET\/PREFIX/],
    ['an extra argument', ['evict', 'b', 'c'], /^tessera evict: unexpected argument c/],
    ['a bucket where an object is needed', ['pin', 'b'], /^tessera pin: name an object: BUCKET\/KEY/],
    ['a bad duration', ['gc', '--min-age', 'soon'], /^tessera gc: --min-age must be a duration/],
    ['a flag without its value', ['keygen', '--out'], /^tessera keygen: Option '-o, --out <value>' argument missing/],
    ['no subcommand', ['nodes'], /^tessera nodes: name the subcommand/],
    ['an unknown subcommand', ['nodes', 'list'], /^tessera nodes: unknown subcommand list/],
    ['meta without its subcommand', ['meta'], /^tessera meta: name the subcommand/],
    ['snapshot without its subcommand', ['snapshot'], /^tessera snapshot: name a subcommand/],
    ['snapshot create without a name', ['snapshot', 'create', 'b/p'], /^tessera snapshot create: /],
    ['meta copy without a target', ['meta', 'copy'], /^tessera meta: copy needs --to TARGET/],
    ['a node without its data dir', ['node', '--port', '0'], /^tessera node: --data DIR is required/],
    ['a node with a bad port', ['node', '--data', 'x', '--port', 'http'], /^tessera node: --port must be 0\.\.65535/],
    ['a node with a certificate but no key', ['node', '--data', 'x', '--tls-cert', 'c.pem'], /^tessera node: --tls-cert and --tls-key go together/],
  ];
  it.each(mistakes)('a usage mistake (%s) is one line on stderr and exit 64', async (_, args, message) => {
    const dataDir = freshDir();
    const r = await runCli(args, 60_000, { TESSERA_DATA_DIR: dataDir, TESSERA_NODE_SECRET: 'node-secret-0123456789' });
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.code).toBe(64);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('recover-index in an empty data dir refuses (no new master key), and creates nothing', async () => {
    const dataDir = freshDir();
    const r = await runCli(['recover-index'], 60_000, { TESSERA_DATA_DIR: dataDir });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`no master key: ${path.join(dataDir, 'master.key')} does not exist`);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(existsSync(dataDir)).toBe(false);
  });

  it.each([['warm', 'b'], ['scrub'], ['nodes', 'check']])('`tessera %s` in an empty data dir refuses too, creating nothing', async (...args) => {
    const dataDir = freshDir();
    const r = await runCli(args, 60_000, { TESSERA_DATA_DIR: dataDir });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/no master key/);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('serve creates the master key and credentials on its first start; afterwards the other commands use them', async () => {
    const dataDir = freshDir();
    const gateway = new ManagedProcess({ name: 'gateway', logFile: path.join(root, 'serve.log'), readyLine: /Tessera is listening on (\S+)/ }, () => ({
      args: ['serve'],
      env: { TESSERA_DATA_DIR: dataDir, TESSERA_PORT: '0', TESSERA_CONSOLE_PORT: '0', TESSERA_LOG_LEVEL: 'warn' },
    }));
    await gateway.start();
    try {
      expect(gateway.output()).toMatch(/secret key: \S+ {3}\(generated; saved in/);
      for (const f of ['master.key', 'credentials.json']) expect(statSync(path.join(dataDir, f)).mode & 0o777).toBe(0o600);
    } finally {
      await gateway.stop();
    }
    const scrub = await runCli(['scrub'], 60_000, { TESSERA_DATA_DIR: dataDir });
    expect(scrub.stderr).toMatch(/scrub: 0 objects/);
    expect(scrub.code).toBe(0);
    // recover-index of a data dir whose credentials are gone (only the key was restored) still runs.
    rmSync(path.join(dataDir, 'credentials.json'));
    const recovered = await runCli(['recover-index'], 60_000, { TESSERA_DATA_DIR: dataDir });
    expect(recovered.stderr).toMatch(/recover-index: 0 blobs on 6 nodes/);
    expect(recovered.code).toBe(0);
    expect(existsSync(path.join(dataDir, 'credentials.json'))).toBe(false);
  });

  it('the shard server accepts the flags its help shows (--data or --data-dir, --port, --host, --secret-file)', async () => {
    const secretFile = path.join(root, 'node.secret');
    writeFileSync(secretFile, 'node-secret-0123456789\n', { mode: 0o600 });
    for (const dataFlag of ['--data', '--data-dir']) {
      const dataDir = freshDir();
      const node = new ManagedProcess({ name: 'node', logFile: path.join(root, 'node.log'), readyLine: /tessera node listening on (\S+)/ }, () => ({
        args: ['node', dataFlag, dataDir, '--port', '0', '--host', '127.0.0.1', '--secret-file', secretFile],
      }));
      await node.start();
      try {
        expect(node.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+/);
        expect(existsSync(dataDir)).toBe(true);
      } finally {
        await node.stop();
      }
    }
  });
});
