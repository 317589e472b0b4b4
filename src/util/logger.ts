import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs to stdout. Redaction is a second line of defence: code must never put secrets in log fields. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: 'tessera' },
    redact: {
      paths: ['*.authorization', '*.secret', '*.secretKey', '*.secretAccessKey', '*.apiKey', '*.token', 'req.headers.authorization', 'req.headers["x-api-key"]'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
