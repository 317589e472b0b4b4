import { S3Error } from '../s3-error.js';
import { AuthErrors } from './auth-errors.js';
import { describeCredentialProblem, isCredential, parseCredential } from './credential.js';
import { ALGORITHM, hmacHex, signaturesEqual, signingKey } from './signing.js';
import type { SecretLookup } from './types.js';

/**
 * Browser form uploads (POST Object) are signed over a policy document, not over the request: the form carries the
 * base64 policy, x-amz-credential / x-amz-date / x-amz-algorithm and x-amz-signature = HMAC(signing key, policy).
 * The policy's conditions then constrain every other field of the form. Field names are case-insensitive; the
 * caller gives them lower-cased.
 */

export interface PostPolicyCheck {
  /** Access key whose secret signed the policy. */
  accessKey: string;
  /** Bounds from a content-length-range condition (inclusive). */
  minSize: number;
  maxSize: number;
}

const denied = (why: string) => new S3Error('AccessDenied', `Invalid according to Policy: ${why}`, 403);
const invalidPolicy = (why: string) => new S3Error('InvalidPolicyDocument', `Invalid Policy: ${why}`, 400);

/** Fields the policy need not mention (AWS: the signature, the file, the policy itself, x-ignore-*). */
function exempt(name: string): boolean {
  return name === 'x-amz-signature' || name === 'file' || name === 'policy' || name.startsWith('x-ignore-');
}

type Condition = { kind: 'eq' | 'starts-with'; field: string; value: string } | { kind: 'range'; min: number; max: number };

function parseConditions(list: unknown): Condition[] {
  if (!Array.isArray(list)) throw invalidPolicy('Policy has no conditions array.');
  return list.map((c): Condition => {
    if (Array.isArray(c)) {
      const [op, a, b] = c as unknown[];
      const opName = String(op).toLowerCase();
      if (opName === 'content-length-range') {
        const min = Number(a);
        const max = Number(b);
        if (c.length !== 3 || !Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max < min) throw invalidPolicy('Invalid content-length-range condition.');
        return { kind: 'range', min, max };
      }
      if ((opName !== 'eq' && opName !== 'starts-with') || c.length !== 3 || typeof a !== 'string' || !a.startsWith('$') || typeof b !== 'string') {
        throw invalidPolicy(`Invalid condition: ${JSON.stringify(c)}`);
      }
      return { kind: opName, field: a.slice(1).toLowerCase(), value: b };
    }
    if (typeof c === 'object' && c !== null) {
      const entries = Object.entries(c as Record<string, unknown>);
      const first = entries[0];
      if (entries.length !== 1 || first === undefined || typeof first[1] !== 'string') throw invalidPolicy(`Invalid condition: ${JSON.stringify(c)}`);
      return { kind: 'eq', field: first[0].toLowerCase(), value: first[1] };
    }
    throw invalidPolicy(`Invalid condition: ${JSON.stringify(c)}`);
  });
}

/**
 * Verifies a POST form's signature and policy against its fields (lower-cased names; `bucket` included as S3 does).
 * Throws the S3 error AWS answers: SignatureDoesNotMatch, InvalidAccessKeyId, AccessDenied "Invalid according to
 * Policy: …", InvalidPolicyDocument.
 */
export function verifyPostPolicy(fields: ReadonlyMap<string, string>, lookup: SecretLookup, region: string, now: Date): PostPolicyCheck {
  const policy = fields.get('policy') ?? '';
  const algorithm = fields.get('x-amz-algorithm');
  if (fields.has('awsaccesskeyid') || fields.has('signature')) throw AuthErrors.unsupportedMechanism();
  if (algorithm !== ALGORITHM) throw AuthErrors.unsupportedMechanism();
  const credential = parseCredential(fields.get('x-amz-credential') ?? '', region);
  if (!isCredential(credential)) {
    const { detail, fields: extra } = describeCredentialProblem(credential, region);
    throw new S3Error('InvalidArgument', `Invalid argument: x-amz-credential: ${detail}`, 400, extra);
  }
  const secret = lookup(credential.accessKey);
  if (secret === undefined) throw AuthErrors.invalidAccessKeyId(credential.accessKey);
  const provided = fields.get('x-amz-signature') ?? '';
  const expected = hmacHex(signingKey(secret, credential.date, credential.region), policy);
  if (!signaturesEqual(expected, provided)) {
    throw new S3Error('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', 403, {
      AWSAccessKeyId: credential.accessKey,
      StringToSign: policy,
      SignatureProvided: provided,
    });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(policy, 'base64').toString('utf8'));
  } catch {
    throw invalidPolicy('Policy is not valid JSON.');
  }
  if (typeof doc !== 'object' || doc === null) throw invalidPolicy('Policy is not a JSON object.');
  const { expiration, conditions } = doc as { expiration?: unknown; conditions?: unknown };
  const expires = typeof expiration === 'string' ? Date.parse(expiration) : NaN;
  if (Number.isNaN(expires)) throw invalidPolicy('Policy has an invalid or missing expiration.');
  if (expires < now.getTime()) throw denied('Policy expired.');
  const parsed = parseConditions(conditions);
  let minSize = 0;
  let maxSize = Number.MAX_SAFE_INTEGER;
  const covered = new Set<string>();
  for (const c of parsed) {
    if (c.kind === 'range') {
      minSize = c.min;
      maxSize = c.max;
      continue;
    }
    covered.add(c.field);
    const value = fields.get(c.field);
    const holds = c.kind === 'eq' ? value === c.value : value !== undefined && value.startsWith(c.value);
    if (!holds) throw denied(`Policy Condition failed: ["${c.kind}", "$${c.field}", "${c.value}"]`);
  }
  const extra = [...fields.keys()].filter((name) => !exempt(name) && name !== 'bucket' && !covered.has(name));
  if (extra.length > 0) throw denied(`Extra input fields: ${extra.join(', ')}`);
  return { accessKey: credential.accessKey, minSize, maxSize };
}
