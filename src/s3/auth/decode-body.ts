import type { IncomingHttpHeaders } from 'node:http';
import { Errors } from '../s3-error.js';
import { AuthErrors } from './auth-errors.js';
import { AwsChunkedDecoder } from './aws-chunked.js';
import { PayloadVerifier } from './payload-verifier.js';
import type { AuthContext, DecodedBody } from './types.js';

/**
 * Builds the transform that turns the raw request body into payload bytes for the authenticated payload mode.
 * Throws S3Error synchronously when the headers alone make the body undecodable (e.g. aws-chunked without
 * x-amz-decoded-content-length).
 */
export function decodeBody(ctx: AuthContext, headers: IncomingHttpHeaders): DecodedBody {
  const payload = ctx.payload;
  switch (payload.kind) {
    case 'unsigned':
    case 'sha256': {
      const contentLength = parseLength(headers['content-length'], 'Content-Length');
      const stream = new PayloadVerifier({
        expectedLength: contentLength,
        ...(payload.kind === 'sha256' ? { expectedSha256: payload.hash } : {}),
      });
      return { stream, trailers: () => ({}), decodedLength: contentLength };
    }
    case 'streaming-signed':
    case 'streaming-unsigned': {
      const decodedLength = parseLength(headers['x-amz-decoded-content-length'], 'x-amz-decoded-content-length');
      if (decodedLength === undefined) throw AuthErrors.missingDecodedLength();
      const decoder = new AwsChunkedDecoder({
        decodedLength,
        ...(payload.kind === 'streaming-signed' ? { signing: ctx.signing } : {}),
        trailer: payload.trailer,
        declaredTrailers: payload.trailer ? declaredTrailers(headers['x-amz-trailer']) : [],
      });
      return { stream: decoder, trailers: () => decoder.trailers(), decodedLength };
    }
  }
}

function parseLength(value: string | string[] | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || !/^\d{1,16}$/.test(text.trim())) throw Errors.invalidArgument(`${name} must be a non-negative integer`, name);
  const n = Number(text.trim());
  if (!Number.isSafeInteger(n)) throw Errors.invalidArgument(`${name} must be a non-negative integer`, name);
  return n;
}

function declaredTrailers(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  const text = Array.isArray(value) ? value.join(',') : value;
  return text
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
}
