import { randomBytes } from 'node:crypto';
import type { LifecycleRule } from '../../model/records.js';
import { readSmallBody } from '../body.js';
import { send, sendXml, type RequestContext } from '../context.js';
import { Errors } from '../s3-error.js';
import { childList, childNode, childText, el, parseXmlBody, textEl, xmlDocument, type XmlNode } from '../xml.js';
import { requireBucketConfig, storeBucketConfig } from './bucket-config.js';
import { bucketOf } from './common.js';

/**
 * Get/Put/DeleteBucketLifecycle(Configuration): the rules Tessera runs (src/gateway/lifecycle.ts). Anything a rule
 * can say that is not run here (transitions, tag and size filters) is refused with 501, never stored and ignored.
 */

const MAX_RULES = 1000;

function positive(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d{1,9}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!(n > 0)) throw Errors.invalidArgument(`'${what}' must be a positive integer`, what, text);
  return n;
}

function has(node: XmlNode | undefined, name: string): boolean {
  return node !== undefined && typeof node === 'object' && !Array.isArray(node) && name in node;
}

function parseRule(node: XmlNode): LifecycleRule {
  for (const unsupported of ['Transition', 'NoncurrentVersionTransition']) if (has(node, unsupported)) throw Errors.notImplemented(`lifecycle ${unsupported}`);
  const id = childText(node, 'ID') ?? randomBytes(16).toString('base64url');
  if (id.length > 255) throw Errors.invalidArgument('ID length should not exceed allowed limit of 255', 'ID', id);
  const status = childText(node, 'Status');
  if (status !== 'Enabled' && status !== 'Disabled') throw Errors.malformedXML();
  const filter = childNode(node, 'Filter');
  const legacyPrefix = childText(node, 'Prefix');
  if (filter !== undefined && legacyPrefix !== undefined) throw Errors.malformedXML();
  for (const unsupported of ['Tag', 'And', 'ObjectSizeGreaterThan', 'ObjectSizeLessThan']) if (has(filter, unsupported)) throw Errors.notImplemented(`lifecycle filter ${unsupported}`);
  const filterPrefix = childText(filter, 'Prefix');
  const prefix = legacyPrefix ?? filterPrefix ?? '';
  const prefixForm = legacyPrefix !== undefined ? 'rule' : filter === undefined ? 'none' : filterPrefix === undefined ? 'empty-filter' : 'filter';
  const rule: LifecycleRule = { id, prefix, prefixForm, enabled: status === 'Enabled' };

  const expiration = childNode(node, 'Expiration');
  if (expiration !== undefined) {
    const days = positive(childText(expiration, 'Days'), 'Days');
    const dateText = childText(expiration, 'Date');
    const marker = childText(expiration, 'ExpiredObjectDeleteMarker');
    if ([days, dateText, marker].filter((v) => v !== undefined).length !== 1) throw Errors.malformedXML();
    if (days !== undefined) rule.expiration = { days };
    else if (dateText !== undefined) {
      const date = /^\d{4}-\d{2}-\d{2}(T00:00:00(\.0+)?(Z|\+00:00))?$/.test(dateText.trim()) ? Date.parse(dateText.trim().length === 10 ? `${dateText.trim()}T00:00:00Z` : dateText.trim()) : NaN;
      if (Number.isNaN(date)) throw Errors.invalidArgument("'Date' must be at midnight GMT", 'Date', dateText);
      rule.expiration = { date };
    } else {
      if (marker !== 'true' && marker !== 'false') throw Errors.malformedXML();
      if (marker === 'true') rule.expiration = { expiredObjectDeleteMarker: true };
    }
  }
  const noncurrent = childNode(node, 'NoncurrentVersionExpiration');
  if (noncurrent !== undefined) {
    const days = positive(childText(noncurrent, 'NoncurrentDays'), 'NoncurrentDays');
    if (days === undefined) throw Errors.malformedXML();
    const newer = positive(childText(noncurrent, 'NewerNoncurrentVersions'), 'NewerNoncurrentVersions');
    rule.noncurrentExpiration = { days, ...(newer !== undefined ? { newerNoncurrentVersions: newer } : {}) };
  }
  const abort = childNode(node, 'AbortIncompleteMultipartUpload');
  if (abort !== undefined) {
    const days = positive(childText(abort, 'DaysAfterInitiation'), 'DaysAfterInitiation');
    if (days === undefined) throw Errors.malformedXML();
    rule.abortIncompleteUploadDays = days;
  }
  if (rule.expiration === undefined && rule.noncurrentExpiration === undefined && rule.abortIncompleteUploadDays === undefined && expiration === undefined) {
    throw Errors.invalidRequest('At least one action needs to be specified in a rule');
  }
  return rule;
}

export function parseLifecycleXml(xml: string): LifecycleRule[] {
  const root = parseXmlBody(xml, 'LifecycleConfiguration');
  const nodes = childList(root, 'Rule');
  if (nodes.length === 0 || nodes.length > MAX_RULES) throw Errors.malformedXML();
  const rules = nodes.map(parseRule);
  if (new Set(rules.map((r) => r.id)).size !== rules.length) throw Errors.invalidArgument('Rule ID must be unique. Found same ID for more than one rule', 'ID');
  return rules;
}

export function lifecycleXml(rules: readonly LifecycleRule[]): string {
  return xmlDocument(
    'LifecycleConfiguration',
    rules.map((r) => {
      const exp = r.expiration;
      const form = r.prefixForm ?? 'filter';
      return el('Rule', [
        textEl('ID', r.id),
        form === 'rule' ? textEl('Prefix', r.prefix) : undefined,
        form === 'filter' ? el('Filter', [textEl('Prefix', r.prefix)]) : form === 'empty-filter' ? el('Filter', []) : undefined,
        textEl('Status', r.enabled ? 'Enabled' : 'Disabled'),
        exp !== undefined
          ? el('Expiration', [
              'days' in exp ? textEl('Days', exp.days) : undefined,
              'date' in exp ? textEl('Date', new Date(exp.date).toISOString().replace('.000Z', 'Z')) : undefined,
              'expiredObjectDeleteMarker' in exp ? textEl('ExpiredObjectDeleteMarker', true) : undefined,
            ])
          : undefined,
        r.noncurrentExpiration
          ? el('NoncurrentVersionExpiration', [
              textEl('NoncurrentDays', r.noncurrentExpiration.days),
              r.noncurrentExpiration.newerNoncurrentVersions !== undefined ? textEl('NewerNoncurrentVersions', r.noncurrentExpiration.newerNoncurrentVersions) : undefined,
            ])
          : undefined,
        r.abortIncompleteUploadDays !== undefined ? el('AbortIncompleteMultipartUpload', [textEl('DaysAfterInitiation', r.abortIncompleteUploadDays)]) : undefined,
      ]);
    }),
  );
}

export async function getBucketLifecycle(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  if (!(await ctx.deps.service.getBucket(bucket))) throw Errors.noSuchBucket(bucket);
  sendXml(ctx, lifecycleXml(JSON.parse(await requireBucketConfig(ctx, bucket, 'lifecycle')) as LifecycleRule[]));
}

export async function putBucketLifecycle(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const rules = parseLifecycleXml((await readSmallBody(ctx)).toString('utf8'));
  if (!(await ctx.deps.service.getBucket(bucket))) throw Errors.noSuchBucket(bucket);
  await storeBucketConfig(ctx, bucket, 'lifecycle', JSON.stringify(rules));
  send(ctx, 200, {});
}

export async function deleteBucketLifecycle(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  if (!(await ctx.deps.service.getBucket(bucket))) throw Errors.noSuchBucket(bucket);
  await storeBucketConfig(ctx, bucket, 'lifecycle', null);
  send(ctx, 204, {});
}
