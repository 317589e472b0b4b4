import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { authorizeRequest } from '../access/decide.js';
import { verifyPostPolicy } from '../auth/post-policy.js';
import { allowBody } from '../body.js';
import { checksumResponseHeaders, parseExpectedChecksum } from '../checksum-headers.js';
import { send, sendXml, type RequestContext } from '../context.js';
import { S3Error, Errors } from '../s3-error.js';
import { spoolStream } from '../spool.js';
import { assertKey, MAX_TAGS } from '../validation.js';
import { textEl, xmlDocument } from '../xml.js';
import { aclOfWrite } from './acl.js';
import { assertNoSseC, bucketOf, objectHeadersFromRequest } from './common.js';
import { requestedLock } from './object-lock.js';
import { parseTagSet } from './tagging.js';

/**
 * POST Object: an HTML form upload (multipart/form-data) to a bucket URL. The form's policy, signed with SigV4, is
 * the authentication (src/s3/auth/post-policy.ts); without one the upload is anonymous and needs a bucket that lets
 * everyone write. Fields after the file are ignored, as S3 does. The file streams to an encrypted spool (its size is
 * known only at its end) and is then stored like a PutObject.
 */

export function isFormUpload(headers: IncomingHttpHeaders): boolean {
  return /^multipart\/form-data\s*;/i.test(headers['content-type'] ?? '');
}

const malformed = () => new S3Error('MalformedPOSTRequest', 'The body of your POST request is not well-formed multipart/form-data.', 400);
const MAX_FIELD_BYTES = 64 * 1024;

interface Form {
  /** Lower-cased names; values as the browser sent them (UTF-8). */
  fields: Map<string, string>;
  file: Readable;
  filename: string;
}

/** Reads the form up to its file part. */
function readForm(ctx: RequestContext): Promise<Form> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: ctx.req.headers, limits: { fieldSize: MAX_FIELD_BYTES, fields: 200, files: 1, parts: 201, headerPairs: 100 } });
    } catch {
      reject(malformed());
      return;
    }
    const fields = new Map<string, string>();
    let got = false;
    parser.on('field', (name, value, info) => {
      if (got) return;
      if (info.valueTruncated || info.nameTruncated) reject(Errors.invalidArgument('A form field is too large', name.slice(0, 64)));
      else fields.set(name.toLowerCase(), value);
    });
    parser.on('file', (name, stream, info) => {
      if (got || name.toLowerCase() !== 'file') {
        stream.resume();
        return;
      }
      got = true;
      resolve({ fields, file: stream, filename: info.filename ?? '' });
    });
    parser.on('fieldsLimit', () => reject(Errors.invalidArgument('Too many form fields', 'fields')));
    parser.on('error', () => reject(malformed()));
    parser.on('close', () => {
      if (!got) reject(Errors.invalidArgument('POST requires exactly one file upload per request.', 'file', '0'));
    });
    allowBody(ctx);
    ctx.req.pipe(parser);
  });
}

/**
 * The form's fields as the request headers a PutObject would carry: `acl` is x-amz-acl, the rest keep their names.
 * Values go back to the one-char-per-byte form Node gives header values, so the header path decodes them the same.
 */
function fieldsAsHeaders(fields: ReadonlyMap<string, string>): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of fields) headers[name === 'acl' ? 'x-amz-acl' : name] = Buffer.from(value, 'utf8').toString('latin1');
  return headers;
}

function secretOf(ctx: RequestContext) {
  return (accessKey: string) => ctx.deps.config.users.find((u) => u.accessKey === accessKey)?.secretKey;
}

export async function postObject(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const form = await readForm(ctx);
  try {
    await storeForm(ctx, bucket, form);
  } finally {
    // Whatever happened, the rest of the body is read and dropped, so the answer reaches the browser.
    form.file.resume();
  }
}

async function storeForm(ctx: RequestContext, bucket: string, form: Form): Promise<void> {
  const { fields } = form;
  const rawKey = fields.get('key');
  if (rawKey === undefined || rawKey === '') {
    throw Errors.invalidArgument("Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.", 'key');
  }
  const conditions = new Map(fields).set('bucket', bucket);
  let minSize = 0;
  let maxSize = ctx.deps.config.server.maxSinglePutBytes;
  if (fields.has('policy')) {
    const check = verifyPostPolicy(conditions, secretOf(ctx), ctx.deps.config.server.region, new Date());
    const user = ctx.deps.config.users.find((u) => u.accessKey === check.accessKey);
    if (user) ctx.user = user;
    minSize = check.minSize;
    maxSize = Math.min(maxSize, check.maxSize);
  } else if (fields.has('x-amz-signature') || fields.has('x-amz-credential')) {
    throw Errors.invalidArgument('Bucket POST must contain a field named policy when it is signed.', 'policy');
  }
  const key = rawKey.replace(/\$\{filename\}/g, form.filename.split(/[\\/]/).pop() ?? '');
  assertKey(key);
  ctx.key = key;
  await authorizeRequest(ctx, bucket, key, 'PutObject');

  const headers = fieldsAsHeaders(fields);
  assertNoSseC(ctx, headers);
  const objectHeaders = objectHeadersFromRequest(ctx, headers);
  const lock = await requestedLock(ctx, bucket, key, headers);
  const tagging = fields.get('tagging');
  const tags = tagging !== undefined ? parseTagSet(tagging, MAX_TAGS, 'Object') : {};
  const acl = await aclOfWrite(ctx, bucket, headers);
  const checksum = parseExpectedChecksum(headers, () => ({}));
  const redirect = fields.get('success_action_redirect') ?? fields.get('redirect');
  const status = fields.get('success_action_status');

  const spooled = await spoolStream(ctx, form.file, maxSize);
  if (spooled.size < minSize) {
    spooled.stream.destroy();
    throw Errors.entityTooSmall();
  }
  const record = await ctx.deps.service.putObject({ bucket, key, body: spooled.stream, size: spooled.size, headers: objectHeaders, tags, ...(checksum ? { checksum } : {}), ...(lock !== undefined ? { lock } : {}), ...acl });

  const location = `${ctx.secure ? 'https' : 'http'}://${ctx.host}/${encodeURIComponent(bucket)}/${key.split('/').map(encodeURIComponent).join('/')}`;
  const answer = { etag: record.etag, location, 'x-amz-server-side-encryption': 'AES256', ...checksumResponseHeaders(record.checksum) };
  if (redirect !== undefined && /^https?:\/\//i.test(redirect)) {
    const to = new URL(redirect);
    to.searchParams.set('bucket', bucket);
    to.searchParams.set('key', key);
    to.searchParams.set('etag', record.etag);
    send(ctx, 303, { ...answer, location: to.toString() });
  } else if (status === '201') {
    sendXml(ctx, xmlDocument('PostResponse', [textEl('Location', location), textEl('Bucket', bucket), textEl('Key', key), textEl('ETag', record.etag)]), 201, answer);
  } else {
    send(ctx, status === '200' ? 200 : 204, answer);
  }
}
