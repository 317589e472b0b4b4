import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { Errors } from '../s3-error.js';
import { AuthErrors } from './auth-errors.js';
import { EMPTY_SHA256, hmacHex, sha256Hex, signaturesEqual } from './signing.js';
import type { AuthContext } from './types.js';

/** Longest chunk-header or trailer line accepted; real ones are under 100 bytes, so garbage can't make us buffer. */
export const MAX_CHUNK_LINE_BYTES = 4096;
const MAX_TRAILERS = 32;
const CR = 0x0d;
const LF = 0x0a;

export interface AwsChunkedOptions {
  /** x-amz-decoded-content-length: the payload must be exactly this long. */
  decodedLength: number;
  /** Present when every chunk carries a chunk-signature chained from the request's seed signature. */
  signing?: AuthContext['signing'];
  /** The body ends with trailing headers (STREAMING-*-TRAILER); with `signing`, they carry x-amz-trailer-signature. */
  trailer: boolean;
  /** Trailer names announced in x-amz-trailer; each must arrive, or a checksum could be silently dropped. */
  declaredTrailers: readonly string[];
}

type State = 'chunk-header' | 'chunk-data' | 'chunk-data-crlf' | 'trailer' | 'done';

/**
 * Decodes an aws-chunked body (`hex-size[;chunk-signature=sig]\r\n data \r\n ... 0[;...]\r\n [trailers] \r\n`),
 * passing payload slices through as they arrive and verifying each chunk's signature when its data is complete.
 * Unverified bytes do flow downstream, but any failure errors the stream before it ends, so a consumer that commits
 * only on 'end' never commits tampered data.
 */
export class AwsChunkedDecoder extends Transform {
  private state: State = 'chunk-header';
  private readonly line = Buffer.allocUnsafe(MAX_CHUNK_LINE_BYTES);
  private lineLength = 0;
  private decodedRemaining: number;
  private chunkRemaining = 0;
  private crlfSeen = 0;
  private chunkHash: Hash | undefined;
  private claimedChunkSignature = '';
  private previousSignature: string;
  private readonly received = new Map<string, string>();
  private trailerCount = 0;
  private canonicalTrailers = '';
  private trailerSignature: string | undefined;

  constructor(private readonly options: AwsChunkedOptions) {
    super();
    this.decodedRemaining = options.decodedLength;
    this.previousSignature = options.signing?.signature ?? '';
  }

  /** Trailing headers (lower-case names); complete once the stream has ended. */
  trailers(): Record<string, string> {
    return Object.fromEntries(this.received);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.consume(chunk);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    callback(this.state === 'done' ? null : Errors.incompleteBody());
  }

  private consume(buf: Buffer): void {
    let pos = 0;
    while (pos < buf.length) {
      switch (this.state) {
        case 'chunk-header':
        case 'trailer': {
          const text = this.readLine(buf, pos);
          pos = text.next;
          if (text.line === undefined) break;
          if (this.state === 'chunk-header') this.onChunkHeader(text.line);
          else this.onTrailerLine(text.line);
          break;
        }
        case 'chunk-data': {
          const n = Math.min(this.chunkRemaining, buf.length - pos);
          const slice = buf.subarray(pos, pos + n);
          this.chunkHash?.update(slice);
          this.push(slice);
          pos += n;
          this.chunkRemaining -= n;
          if (this.chunkRemaining === 0) {
            this.verifyChunk(this.chunkHash?.digest('hex') ?? '');
            this.state = 'chunk-data-crlf';
            this.crlfSeen = 0;
          }
          break;
        }
        case 'chunk-data-crlf': {
          if (buf[pos] !== (this.crlfSeen === 0 ? CR : LF)) throw AuthErrors.malformedChunk('chunk data is longer than its declared size or not followed by CRLF');
          pos++;
          if (++this.crlfSeen === 2) this.state = 'chunk-header';
          break;
        }
        case 'done':
          throw AuthErrors.malformedChunk('data after the end of the aws-chunked body');
      }
    }
  }

  /** Accumulates one CRLF-terminated line across input buffers; returns it (without CRLF) once complete. */
  private readLine(buf: Buffer, pos: number): { line: string | undefined; next: number } {
    const lf = buf.indexOf(LF, pos);
    const end = lf < 0 ? buf.length : lf;
    if (this.lineLength + (end - pos) > MAX_CHUNK_LINE_BYTES) throw AuthErrors.malformedChunk(`line longer than ${MAX_CHUNK_LINE_BYTES} bytes`);
    buf.copy(this.line, this.lineLength, pos, end);
    this.lineLength += end - pos;
    if (lf < 0) return { line: undefined, next: buf.length };
    const length = this.lineLength;
    this.lineLength = 0;
    if (length === 0 || this.line[length - 1] !== CR) throw AuthErrors.malformedChunk('line not terminated by CRLF');
    return { line: this.line.toString('latin1', 0, length - 1), next: lf + 1 };
  }

  private onChunkHeader(text: string): void {
    const semicolon = text.indexOf(';');
    const sizeText = semicolon < 0 ? text : text.slice(0, semicolon);
    if (!/^[0-9a-fA-F]{1,16}$/.test(sizeText)) throw AuthErrors.malformedChunk('invalid chunk size');
    const size = parseInt(sizeText, 16);
    if (size > this.decodedRemaining) throw AuthErrors.malformedChunk('chunks are longer than x-amz-decoded-content-length');
    if (this.options.signing !== undefined) {
      const extension = semicolon < 0 ? '' : text.slice(semicolon + 1);
      if (!extension.startsWith('chunk-signature=')) throw AuthErrors.malformedChunk('chunk-signature missing');
      this.claimedChunkSignature = extension.slice('chunk-signature='.length);
    }
    if (size === 0) {
      // Fewer payload bytes than announced: the client stopped early.
      if (this.decodedRemaining !== 0) throw Errors.incompleteBody();
      this.verifyChunk(EMPTY_SHA256);
      this.state = 'trailer';
      return;
    }
    this.decodedRemaining -= size;
    this.chunkRemaining = size;
    this.chunkHash = this.options.signing !== undefined ? createHash('sha256') : undefined;
    this.state = 'chunk-data';
  }

  private verifyChunk(dataHash: string): void {
    const signing = this.options.signing;
    if (signing === undefined) return;
    const stringToSign = `AWS4-HMAC-SHA256-PAYLOAD\n${signing.amzDate}\n${signing.scope}\n${this.previousSignature}\n${EMPTY_SHA256}\n${dataHash}`;
    const expected = hmacHex(signing.signingKey, stringToSign);
    if (!signaturesEqual(expected, this.claimedChunkSignature)) throw AuthErrors.chunkSignatureDoesNotMatch();
    this.previousSignature = expected;
  }

  private onTrailerLine(text: string): void {
    if (text === '') {
      this.finishTrailers();
      this.state = 'done';
      return;
    }
    const colon = text.indexOf(':');
    if (colon <= 0) throw AuthErrors.malformedTrailer('trailer line without a name');
    const name = text.slice(0, colon).trim().toLowerCase();
    const value = text.slice(colon + 1).trim();
    if (!this.options.trailer) throw AuthErrors.malformedTrailer('trailing headers sent without a *-TRAILER x-amz-content-sha256');
    if (this.trailerSignature !== undefined) throw AuthErrors.malformedTrailer('data after x-amz-trailer-signature');
    if (name === 'x-amz-trailer-signature') {
      // Unsigned-trailer bodies have no chain to check it against, so there it is simply ignored.
      if (this.options.signing !== undefined) this.trailerSignature = value;
      return;
    }
    if (++this.trailerCount > MAX_TRAILERS) throw AuthErrors.malformedTrailer('too many trailing headers');
    if (this.received.has(name)) throw AuthErrors.malformedTrailer(`repeated trailer ${name}`);
    this.received.set(name, value);
    this.canonicalTrailers += `${name}:${value}\n`;
  }

  private finishTrailers(): void {
    const signing = this.options.signing;
    if (signing !== undefined && this.options.trailer) {
      if (this.trailerSignature === undefined) throw AuthErrors.malformedTrailer('x-amz-trailer-signature missing');
      const stringToSign = `AWS4-HMAC-SHA256-TRAILER\n${signing.amzDate}\n${signing.scope}\n${this.previousSignature}\n${sha256Hex(this.canonicalTrailers)}`;
      if (!signaturesEqual(hmacHex(signing.signingKey, stringToSign), this.trailerSignature)) throw AuthErrors.chunkSignatureDoesNotMatch();
    }
    for (const name of this.options.declaredTrailers) {
      if (!this.received.has(name)) throw AuthErrors.malformedTrailer(`declared trailer ${name} missing`);
    }
  }
}
