#!/usr/bin/env node
import { ConfigError } from '../config/errors.js';
import { EX_CONFIG, EX_USAGE, UsageError } from '../util/cli-flags.js';
import { COMMANDS, commandUsage, overallUsage, wantsHelp } from './usage.js';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) throw new UsageError('', 'name a command (tessera --help lists them)');
  if (command === 'help' || command === '--help' || command === '-h') {
    const topic = rest[0];
    process.stdout.write((topic !== undefined && COMMANDS[topic] ? commandUsage(topic) : overallUsage()) + '\n');
    return 0;
  }
  if (!COMMANDS[command]) throw new UsageError('', `unknown command ${command} (tessera --help lists them)`);
  if (wantsHelp(rest)) {
    process.stdout.write(commandUsage(command) + '\n');
    return 0;
  }
  switch (command) {
    case 'serve':
      return (await import('./serve.js')).serveMain(rest);
    case 'node':
      return (await import('../node/main.js')).nodeMain(rest);
    case 'keygen':
      return (await import('./keygen.js')).keygenMain(rest);
    case 'warm':
    case 'evict':
    case 'pin':
    case 'unpin':
      return (await import('./tiering.js')).tieringMain(command, rest);
    case 'scrub':
    case 'repair':
    case 'gc':
    case 'recover-index':
    case 'rotate-key':
      return (await import('./durability.js')).durabilityMain(command, rest);
    case 'snapshot':
      return (await import('./snapshot.js')).snapshotMain(rest);
    case 'nodes':
      return (await import('./nodes-check.js')).nodesMain(rest);
    case 'meta':
      return (await import('./meta.js')).metaMain(rest);
    case 'status':
      return (await import('./report.js')).statusMain(rest);
    case 'cost':
      return (await import('./report.js')).costMain(rest);
    default:
      throw new Error(`tessera: command ${command} has usage but no entry point`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      const who = err.command ? `tessera ${err.command}` : 'tessera';
      const hint = err.command ? ` (tessera ${err.command} --help)` : '';
      process.stderr.write(`${who}: ${err.message}${hint}\n`);
      process.exitCode = EX_USAGE;
    } else if (err instanceof ConfigError) {
      process.stderr.write(`tessera: ${err.message}\n`);
      process.exitCode = EX_CONFIG;
    } else {
      process.stderr.write(`tessera: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
