import { parseArgs } from 'node:util';
import { loadConfig, type LoadedConfig } from '../config/load.js';

/** --config FILE (or TESSERA_CONFIG) plus the command's own flags. */
export function parseCommand(
  argv: string[],
  options: Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean }> = {},
): { loaded: LoadedConfig; values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, ...options },
    allowPositionals: true,
    strict: true,
  });
  const file = typeof values.config === 'string' ? values.config : process.env.TESSERA_CONFIG;
  const loaded = loadConfig(file ? { file } : {});
  return { loaded, values: values as Record<string, string | boolean | undefined>, positionals };
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
