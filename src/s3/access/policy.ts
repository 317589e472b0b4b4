import { isIP } from 'node:net';
import { ownerId } from '../owner.js';
import { S3Error } from '../s3-error.js';

/**
 * Bucket policies: the parts of the IAM policy language that matter for datasets. Anything else in a policy is
 * refused when it is put (MalformedPolicy), never accepted and ignored.
 */

export type Effect = 'Allow' | 'Deny';

/** What a request is, as a policy sees it. */
export interface PolicyRequest {
  /** Access key of the signed-in user; undefined for an anonymous request. */
  accessKey: string | undefined;
  /** e.g. s3:GetObject */
  action: string;
  /** arn:aws:s3:::bucket or arn:aws:s3:::bucket/key */
  resource: string;
  /** Condition keys of this request (aws:SourceIp, aws:SecureTransport, s3:prefix, ...). */
  context: Readonly<Record<string, string | undefined>>;
}

type ConditionOperator = 'StringEquals' | 'StringNotEquals' | 'StringLike' | 'StringNotLike' | 'IpAddress' | 'NotIpAddress' | 'Bool';

interface Condition {
  operator: ConditionOperator;
  ifExists: boolean;
  key: string;
  values: string[];
}

interface Statement {
  effect: Effect;
  /** '*' = everyone, anonymous included. */
  principals: '*' | string[];
  actions: string[];
  notActions: string[] | undefined;
  resources: string[];
  conditions: Condition[];
}

export interface BucketPolicy {
  statements: Statement[];
  /** True when some Allow reaches everyone (anonymous users) without an address condition: PublicAccessBlock's notion. */
  isPublic: boolean;
}

const OPERATORS: ReadonlySet<string> = new Set(['StringEquals', 'StringNotEquals', 'StringLike', 'StringNotLike', 'IpAddress', 'NotIpAddress', 'Bool']);
/** The condition keys Tessera evaluates. */
export const CONDITION_KEYS: ReadonlySet<string> = new Set(['aws:sourceip', 'aws:securetransport', 's3:prefix', 's3:delimiter', 's3:max-keys', 'aws:useragent', 'aws:referer', 'aws:username', 's3:x-amz-acl']);
const MAX_POLICY_BYTES = 20 * 1024;

function malformed(message: string): S3Error {
  return new S3Error('MalformedPolicy', message, 400);
}

function strings(v: unknown, what: string): string[] {
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0 || !list.every((x): x is string => typeof x === 'string')) throw malformed(`${what} must be a string or a list of strings`);
  return list;
}

/** Glob with * and ? (IAM's wildcards), anchored. */
function globMatch(pattern: string, value: string, caseInsensitive = false): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[\\s\\S]*').replace(/\?/g, '[\\s\\S]')}$`, caseInsensitive ? 'i' : '');
  return re.test(value);
}

function parsePrincipal(v: unknown): '*' | string[] {
  if (v === '*') return '*';
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw malformed('Invalid principal in policy');
  const out: string[] = [];
  for (const [kind, ids] of Object.entries(v as Record<string, unknown>)) {
    if (kind !== 'AWS' && kind !== 'CanonicalUser') throw malformed(`Invalid principal in policy: ${kind} principals are not supported`);
    const list = strings(ids, 'Principal');
    if (kind === 'AWS' && list.includes('*')) return '*';
    out.push(...list);
  }
  if (out.length === 0) throw malformed('Invalid principal in policy');
  return out;
}

function parseConditions(v: unknown): Condition[] {
  if (v === undefined) return [];
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw malformed('Condition must be an object');
  const out: Condition[] = [];
  for (const [rawOp, block] of Object.entries(v as Record<string, unknown>)) {
    const ifExists = rawOp.endsWith('IfExists');
    const op = ifExists ? rawOp.slice(0, -'IfExists'.length) : rawOp;
    if (!OPERATORS.has(op)) throw malformed(`Invalid Condition type: ${rawOp} is not supported`);
    if (typeof block !== 'object' || block === null || Array.isArray(block)) throw malformed(`Condition ${rawOp} must be an object`);
    for (const [key, values] of Object.entries(block as Record<string, unknown>)) {
      if (!CONDITION_KEYS.has(key.toLowerCase())) throw malformed(`Policy has an invalid condition key: ${key}`);
      const list = (Array.isArray(values) ? values : [values]).map((x) => (typeof x === 'boolean' || typeof x === 'number' ? String(x) : x));
      const vals = strings(list, `Condition ${rawOp} ${key}`);
      if ((op === 'IpAddress' || op === 'NotIpAddress') && !vals.every(isCidr)) throw malformed(`Invalid IP address or range in ${rawOp}`);
      out.push({ operator: op as ConditionOperator, ifExists, key: key.toLowerCase(), values: vals });
    }
  }
  return out;
}

function isCidr(v: string): boolean {
  const [addr, bits] = v.split('/');
  const family = isIP(addr ?? '');
  if (family === 0) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return Number.isInteger(n) && n >= 0 && n <= (family === 4 ? 32 : 128);
}

function ipToBigInt(ip: string): { value: bigint; bits: number } | undefined {
  const v4 = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  if (isIP(v4) === 4) return { value: v4.split('.').reduce((a, o) => (a << 8n) + BigInt(Number(o)), 0n), bits: 32 };
  if (isIP(v4) !== 6) return undefined;
  const [head = '', tail = ''] = v4.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = v4.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return { value: groups.reduce((a, g) => (a << 16n) + BigInt(parseInt(g || '0', 16)), 0n), bits: 128 };
}

function inCidr(ip: string, cidr: string): boolean {
  const [addr = '', bitsText] = cidr.split('/');
  const a = ipToBigInt(ip);
  const b = ipToBigInt(addr);
  if (!a || !b || a.bits !== b.bits) return false;
  const bits = bitsText === undefined ? a.bits : Number(bitsText);
  const shift = BigInt(a.bits - bits);
  return a.value >> shift === b.value >> shift;
}

function conditionHolds(c: Condition, context: PolicyRequest['context']): boolean {
  const value = context[c.key];
  // An absent key: ...IfExists holds, a negated operator holds (nothing to differ from), a positive one does not.
  if (value === undefined) return c.ifExists || c.operator === 'StringNotEquals' || c.operator === 'StringNotLike' || c.operator === 'NotIpAddress';
  switch (c.operator) {
    case 'StringEquals':
      return c.values.includes(value);
    case 'StringNotEquals':
      return !c.values.includes(value);
    case 'StringLike':
      return c.values.some((p) => globMatch(p, value));
    case 'StringNotLike':
      return !c.values.some((p) => globMatch(p, value));
    case 'IpAddress':
      return c.values.some((r) => inCidr(value, r));
    case 'NotIpAddress':
      return !c.values.some((r) => inCidr(value, r));
    case 'Bool':
      return c.values.some((v) => v.toLowerCase() === value.toLowerCase());
  }
}

function principalMatches(s: Statement, accessKey: string | undefined): boolean {
  if (s.principals === '*') return true;
  if (accessKey === undefined) return false;
  const id = ownerId(accessKey);
  return s.principals.some((p) => p === accessKey || p === id || p.endsWith(`:user/${accessKey}`));
}

/** Parses and validates a policy document for `bucket`: every resource must be the bucket or objects in it. */
export function parsePolicy(text: string, bucket: string): BucketPolicy {
  if (Buffer.byteLength(text) > MAX_POLICY_BYTES) throw malformed('Policies must be at most 20 KB');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw malformed('This policy contains invalid Json');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw malformed('This policy contains invalid Json');
  const root = doc as Record<string, unknown>;
  for (const k of Object.keys(root)) if (k !== 'Version' && k !== 'Id' && k !== 'Statement') throw malformed(`Unknown field ${k}`);
  if (root.Version !== undefined && root.Version !== '2012-10-17' && root.Version !== '2008-10-17') throw malformed('The policy must contain a valid version string');
  const rawStatements = Array.isArray(root.Statement) ? root.Statement : root.Statement === undefined ? [] : [root.Statement];
  if (rawStatements.length === 0) throw malformed('Missing required field Statement');
  const statements = rawStatements.map((raw): Statement => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw malformed('Statement must be an object');
    const st = raw as Record<string, unknown>;
    for (const k of Object.keys(st)) {
      if (!['Sid', 'Effect', 'Principal', 'Action', 'NotAction', 'Resource', 'Condition'].includes(k)) throw malformed(`Policy statement field ${k} is not supported`);
    }
    if (st.Effect !== 'Allow' && st.Effect !== 'Deny') throw malformed('Invalid effect: must be Allow or Deny');
    if (st.Principal === undefined) throw malformed('Missing required field Principal');
    if ((st.Action === undefined) === (st.NotAction === undefined)) throw malformed('Missing required field Action (or NotAction)');
    const actions = st.Action === undefined ? [] : strings(st.Action, 'Action');
    const notActions = st.NotAction === undefined ? undefined : strings(st.NotAction, 'NotAction');
    for (const a of [...actions, ...(notActions ?? [])]) if (a !== '*' && !/^s3:[A-Za-z*?]+$/.test(a)) throw malformed(`Policy has invalid action: ${a}`);
    if (st.Resource === undefined) throw malformed('Missing required field Resource');
    const resources = strings(st.Resource, 'Resource');
    for (const r of resources) {
      if (!(r === `arn:aws:s3:::${bucket}` || r.startsWith(`arn:aws:s3:::${bucket}/`) || (r.startsWith('arn:aws:s3:::') && globMatch(r.slice('arn:aws:s3:::'.length).split('/')[0] ?? '', bucket)))) {
        throw malformed('Policy has invalid resource');
      }
    }
    return { effect: st.Effect, principals: parsePrincipal(st.Principal), actions, notActions, resources, conditions: parseConditions(st.Condition) };
  });
  const isPublic = statements.some((s) => s.effect === 'Allow' && s.principals === '*' && !s.conditions.some((c) => c.key === 'aws:sourceip' && c.operator === 'IpAddress'));
  return { statements, isPublic };
}

/** Deny when a matching statement denies; Allow when one allows and none denies; undefined when none applies. */
export function evaluatePolicy(policy: BucketPolicy, req: PolicyRequest): Effect | undefined {
  let allowed = false;
  for (const s of policy.statements) {
    if (!principalMatches(s, req.accessKey)) continue;
    const actionHit = s.notActions ? !s.notActions.some((a) => globMatch(a, req.action, true)) : s.actions.some((a) => globMatch(a, req.action, true));
    if (!actionHit) continue;
    if (!s.resources.some((r) => globMatch(r, req.resource))) continue;
    if (!s.conditions.every((c) => conditionHolds(c, req.context))) continue;
    if (s.effect === 'Deny') return 'Deny';
    allowed = true;
  }
  return allowed ? 'Allow' : undefined;
}
