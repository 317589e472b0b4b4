import type { IncomingHttpHeaders } from 'node:http';
import type { LockChange, ObjectLock, ObjectLockConfig, RetentionMode } from '../../model/records.js';
import { authorizeRequest, mayBypassGovernance } from '../access/decide.js';
import { readSmallBody } from '../body.js';
import { send, sendXml, type RequestContext } from '../context.js';
import { Errors, S3Error } from '../s3-error.js';
import { childNode, childText, el, parseXmlBody, textEl, xmlDocument } from '../xml.js';
import { requireBucketConfig, storeBucketConfig } from './bucket-config.js';
import { bucketOf, keyOf, lockFromRequest, parseRetainUntil, versionHeaders, versionIdOf } from './common.js';
import { ProtocolErrors } from '../errors.js';

/**
 * Object Lock as S3 has it: the bucket's configuration (enabled, default retention), and each version's retention
 * and legal hold. The rules of what a lock forbids are the store's (src/meta/object-lock.ts); who may bypass
 * GOVERNANCE is the access decision's.
 */

function positiveInt(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d{1,9}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!(n > 0)) throw new S3Error('InvalidRetentionPeriod', 'Default retention period must be a positive integer value.', 400);
  return n;
}

export function parseLockConfigXml(xml: string): ObjectLockConfig {
  const root = parseXmlBody(xml, 'ObjectLockConfiguration');
  if (childText(root, 'ObjectLockEnabled') !== 'Enabled') throw Errors.malformedXML();
  const rule = childNode(root, 'Rule');
  if (rule === undefined) return { enabled: true };
  const retention = childNode(rule, 'DefaultRetention');
  if (retention === undefined) throw Errors.malformedXML();
  const mode = childText(retention, 'Mode');
  const days = positiveInt(childText(retention, 'Days'));
  const years = positiveInt(childText(retention, 'Years'));
  if (mode === undefined || (days === undefined) === (years === undefined)) throw Errors.malformedXML();
  if (mode !== 'GOVERNANCE' && mode !== 'COMPLIANCE') throw Errors.malformedXML();
  return { enabled: true, defaultRetention: { mode, ...(days !== undefined ? { days } : {}), ...(years !== undefined ? { years } : {}) } };
}

export function lockConfigXml(config: ObjectLockConfig): string {
  const rule = config.defaultRetention;
  return xmlDocument('ObjectLockConfiguration', [
    textEl('ObjectLockEnabled', 'Enabled'),
    rule
      ? el('Rule', [el('DefaultRetention', [textEl('Mode', rule.mode), rule.days !== undefined ? textEl('Days', rule.days) : undefined, rule.years !== undefined ? textEl('Years', rule.years) : undefined])])
      : undefined,
  ]);
}

export async function getObjectLockConfiguration(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  if (!(await ctx.deps.service.getBucket(bucket))) throw Errors.noSuchBucket(bucket);
  const doc = await requireBucketConfig(ctx, bucket, 'object-lock');
  sendXml(ctx, lockConfigXml(JSON.parse(doc) as ObjectLockConfig));
}

export async function putObjectLockConfiguration(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const config = parseLockConfigXml((await readSmallBody(ctx)).toString('utf8'));
  if (!(await ctx.deps.service.getBucket(bucket))) throw Errors.noSuchBucket(bucket);
  await storeBucketConfig(ctx, bucket, 'object-lock', JSON.stringify(config));
  send(ctx, 200, {});
}

/** x-amz-bypass-governance-retention: true, from a requester allowed s3:BypassGovernanceRetention. */
export async function bypassOf(ctx: RequestContext, bucket: string, key: string | undefined): Promise<boolean> {
  const asked = ctx.req.headers['x-amz-bypass-governance-retention'];
  if (typeof asked !== 'string' || asked.trim().toLowerCase() !== 'true') return false;
  return mayBypassGovernance(ctx, bucket, key);
}

export async function getObjectRetention(ctx: RequestContext): Promise<void> {
  const versionId = versionIdOf(ctx);
  const record = await ctx.deps.service.headObject(bucketOf(ctx), keyOf(ctx), versionId);
  const retention = record.lock?.retention;
  if (retention === undefined) throw ProtocolErrors.noObjectLockState(record.key);
  sendXml(ctx, xmlDocument('Retention', [textEl('Mode', retention.mode), textEl('RetainUntilDate', new Date(retention.until).toISOString())]));
}

export async function putObjectRetention(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const key = keyOf(ctx);
  const versionId = versionIdOf(ctx);
  const root = parseXmlBody((await readSmallBody(ctx)).toString('utf8'), 'Retention');
  const mode = childText(root, 'Mode');
  const until = childText(root, 'RetainUntilDate');
  // An empty Retention removes it (a GOVERNANCE one, with bypass).
  if ((mode === undefined) !== (until === undefined)) throw Errors.malformedXML();
  let retention: { mode: RetentionMode; until: number } | null = null;
  if (mode !== undefined && mode !== 'GOVERNANCE' && mode !== 'COMPLIANCE') throw Errors.malformedXML();
  if (mode !== undefined && until !== undefined) retention = { mode, until: parseRetainUntil(until.trim(), 'RetainUntilDate') };
  const change: LockChange = { retention };
  const record = await ctx.deps.service.setObjectLock(bucket, key, versionId, change, await bypassOf(ctx, bucket, key));
  send(ctx, 200, versionHeaders(record.versionId));
}

export async function getObjectLegalHold(ctx: RequestContext): Promise<void> {
  const record = await ctx.deps.service.headObject(bucketOf(ctx), keyOf(ctx), versionIdOf(ctx));
  const hold = record.lock?.legalHold;
  if (hold === undefined) throw ProtocolErrors.noObjectLockState(record.key);
  sendXml(ctx, xmlDocument('LegalHold', [textEl('Status', hold ? 'ON' : 'OFF')]));
}

export async function putObjectLegalHold(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const root = parseXmlBody((await readSmallBody(ctx)).toString('utf8'), 'LegalHold');
  const status = childText(root, 'Status');
  if (status !== 'ON' && status !== 'OFF') throw Errors.malformedXML();
  const record = await ctx.deps.service.setObjectLock(bucket, keyOf(ctx), versionIdOf(ctx), { legalHold: status === 'ON' }, false);
  send(ctx, 200, versionHeaders(record.versionId));
}

/**
 * The Object Lock a write asks for in its headers (or a POST form's fields), with the permissions S3 asks for
 * setting them (s3:PutObjectRetention, s3:PutObjectLegalHold) besides the write's own.
 */
export async function requestedLock(ctx: RequestContext, bucket: string, key: string, source: IncomingHttpHeaders = ctx.req.headers): Promise<ObjectLock | undefined> {
  const lock = lockFromRequest(source);
  if (lock?.retention !== undefined) await authorizeRequest(ctx, bucket, key, 'PutObjectRetention');
  if (lock?.legalHold !== undefined) await authorizeRequest(ctx, bucket, key, 'PutObjectLegalHold');
  return lock;
}
