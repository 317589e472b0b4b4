import type { IncomingHttpHeaders } from 'node:http';
import type { Transform } from 'node:stream';

/** What SigV4 verification needs from an HTTP request, exactly as received. */
export interface AuthRequest {
  method: string;
  /** Path as received on the wire (still percent-encoded), without the query string. */
  rawPath: string;
  /** Query string as received, without the leading '?'. */
  rawQuery: string;
  headers: IncomingHttpHeaders;
  /** The Host the client addressed (after trusted X-Forwarded-Host / public-endpoint handling). */
  host: string;
}

export type PayloadMode =
  | { kind: 'unsigned' } // UNSIGNED-PAYLOAD (or presigned URL)
  | { kind: 'sha256'; hash: string } // hex SHA-256 of the body, verified while streaming
  | { kind: 'streaming-signed'; trailer: boolean } // STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]
  | { kind: 'streaming-unsigned'; trailer: boolean }; // STREAMING-UNSIGNED-PAYLOAD-TRAILER

/** The outcome of a successful authentication. */
export interface AuthContext {
  accessKey: string;
  payload: PayloadMode;
  /** True when authenticated by query parameters (presigned URL). */
  presigned: boolean;
  /** Opaque state the body decoder needs (seed signature, signing key, scope, timestamp). */
  signing: { signature: string; signingKey: Buffer; scope: string; amzDate: string };
}

/** Looks up a user's secret key by access key id; undefined when unknown. */
export type SecretLookup = (accessKey: string) => string | undefined;

export interface AuthOptions {
  region: string;
  now: Date;
  /** Clock skew allowed for header-signed requests (15 minutes). */
  maxSkewMs: number;
}

/** A decoded request body: the payload bytes, and trailer headers once the stream has ended. */
export interface DecodedBody {
  /** Pipe the raw request into `stream`; read the payload out of it. Errors are S3Error (SignatureDoesNotMatch, XAmzContentSHA256Mismatch, IncompleteBody, InvalidRequest...). */
  stream: Transform;
  /** Trailing headers of aws-chunked bodies (lower-case names), available after 'end'. */
  trailers: () => Record<string, string>;
  /** Payload length: x-amz-decoded-content-length for aws-chunked, else Content-Length. */
  decodedLength: number | undefined;
}
