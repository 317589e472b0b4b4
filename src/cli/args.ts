import { ConfigError } from '../config/errors.js';
import { loadConfig, provisionSecrets, type LoadedConfig } from '../config/load.js';
import { parseFlags, type FlagSpec, type ParseOptions } from '../util/cli-flags.js';

/**
 * --config FILE (or TESSERA_CONFIG) plus the command's own flags. Only `serve` provisions (creates the embedded
 * default's master key and credentials); every other command refuses to run without a master key rather than make
 * one: a new key cannot read the data there is.
 */
export function parseCommand(
  command: string,
  argv: string[],
  options: FlagSpec = {},
  opts: ParseOptions & { provision?: boolean; validate?: (positionals: string[], values: Record<string, string | boolean | undefined>) => void } = {},
): { loaded: LoadedConfig; values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const { values, positionals } = parseFlags(command, argv, { config: { type: 'string', short: 'c' }, ...options }, opts);
  // Usage mistakes first: they say more than whatever the config would complain about.
  opts.validate?.(positionals, values);
  const file = typeof values.config === 'string' ? values.config : process.env.TESSERA_CONFIG;
  const loadOpts = file ? { file } : {};
  const loaded = opts.provision === true ? provisionSecrets(loadOpts) : loadConfig(loadOpts);
  const keyFile = loaded.missing.masterKeyFile;
  if (keyFile !== undefined) {
    throw new ConfigError(
      'keys',
      `no master key: ${keyFile} does not exist and none is configured (keys.masterKeys, TESSERA_MASTER_KEY). Only \`tessera serve\` creates one, on a first start; for existing data, restore the key it was written with (is ${loaded.config.dataDir} the right data dir?)`,
    );
  }
  return { loaded, values, positionals };
}

/** A one-line progress bar on stderr (only when it is a terminal; plain periodic lines otherwise). */
export class Progress {
  private last = 0;
  private readonly tty = process.stderr.isTTY === true;
  constructor(
    private readonly label: string,
    private total: number,
  ) {}
  setTotal(total: number): void {
    this.total = total;
  }
  update(done: number, extra = ''): void {
    const now = Date.now();
    if (now - this.last < (this.tty ? 100 : 2000) && done < this.total) return;
    this.last = now;
    const pct = this.total > 0 ? Math.min(100, Math.floor((done / this.total) * 100)) : 100;
    const width = 30;
    const filled = Math.round((pct / 100) * width);
    const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}% ${done}/${this.total} ${extra}`;
    process.stderr.write(this.tty ? `\r${line}` : `${line}\n`);
  }
  done(summary: string): void {
    process.stderr.write(this.tty ? `\r\x1b[K${summary}\n` : `${summary}\n`);
  }
}
