import { parseArgs } from 'node:util';

/**
 * Command-line flags for Tessera's programs (the CLI and the shard node server): a mistake in how a command was called
 * is a UsageError, which the entry point prints as one line and exits 64 (EX_USAGE, sysexits.h).
 */
export const EX_USAGE = 64;
/** A configuration problem (sysexits.h EX_CONFIG). */
export const EX_CONFIG = 78;

/** A mistake in how a command was called: the message is one line and names what is wrong. */
export class UsageError extends Error {
  constructor(
    readonly command: string,
    message: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean }>;

export interface ParseOptions {
  /** Positional arguments the command takes: [fewest, most]. Default none. */
  positionals?: [min: number, max: number];
  /** What a missing positional means, for the one-line message (e.g. 'name a BUCKET or BUCKET/PREFIX'). */
  missing?: string;
}

/** Flags and positionals of one command; a mistake is a UsageError (one line, exit 64). */
export function parseFlags(
  command: string,
  argv: string[],
  options: FlagSpec,
  opts: ParseOptions = {},
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    // node:util's messages run on with advice about `--`; the first sentence says what is wrong.
    const message = err instanceof Error ? err.message : String(err);
    throw new UsageError(command, (/^[^.]*\./.exec(message)?.[0] ?? message).replace(/\.$/, ''));
  }
  const [min, max] = opts.positionals ?? [0, 0];
  const { positionals } = parsed;
  if (positionals.length < min) throw new UsageError(command, opts.missing ?? 'missing argument');
  if (positionals.length > max) throw new UsageError(command, `unexpected argument ${positionals[max]}`);
  return { values: parsed.values as Record<string, string | boolean | undefined>, positionals };
}
