import { send, sendXml, type RequestContext } from '../context.js';
import { Errors } from '../s3-error.js';
import { MAX_BUCKET_TAGS, MAX_TAGS, validateTags } from '../validation.js';
import { childList, childText, el, parseXmlBody, textEl, xmlDocument } from '../xml.js';
import { readSmallBody } from '../body.js';
import { requireBucketConfig, storeBucketConfig } from './bucket-config.js';
import { bucketOf, keyOf, versionHeaders, versionIdOf } from './common.js';

/** Object and bucket tagging: one TagSet document, validated in one place. */

/** In key order, as S3 returns them (not in the order they were given). */
function tagSetXml(tags: Record<string, string>): string {
  const sorted = Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return xmlDocument('Tagging', [el('TagSet', sorted.map(([k, v]) => el('Tag', [textEl('Key', k), textEl('Value', v)])))]);
}

/** A Tagging request body's TagSet, validated (at most `max` tags). */
async function readTagSet(ctx: RequestContext, max: number, what: string): Promise<Record<string, string>> {
  return parseTagSet((await readSmallBody(ctx)).toString('utf8'), max, what);
}

/** A Tagging document's TagSet (a body, or a POST form's tagging field), validated. */
export function parseTagSet(xml: string, max: number, what: string): Record<string, string> {
  const root = parseXmlBody(xml, 'Tagging');
  const tagSet = root.TagSet;
  if (tagSet === undefined || Array.isArray(tagSet)) throw Errors.malformedXML();
  const pairs = childList(tagSet, 'Tag').map((t): [string, string] => {
    const key = childText(t, 'Key');
    const value = childText(t, 'Value');
    if (key === undefined || value === undefined) throw Errors.malformedXML();
    return [key, value];
  });
  return validateTags(pairs, max, what);
}

export async function getObjectTagging(ctx: RequestContext): Promise<void> {
  const record = await ctx.deps.service.headObject(bucketOf(ctx), keyOf(ctx), versionIdOf(ctx));
  sendXml(ctx, tagSetXml(record.tags), 200, versionHeaders(record.versionId));
}

export async function putObjectTagging(ctx: RequestContext): Promise<void> {
  const tags = await readTagSet(ctx, MAX_TAGS, 'Object');
  const record = await ctx.deps.service.putTags(bucketOf(ctx), keyOf(ctx), tags, versionIdOf(ctx));
  send(ctx, 200, versionHeaders(record.versionId));
}

export async function deleteObjectTagging(ctx: RequestContext): Promise<void> {
  const record = await ctx.deps.service.putTags(bucketOf(ctx), keyOf(ctx), {}, versionIdOf(ctx));
  send(ctx, 204, versionHeaders(record.versionId));
}


export async function getBucketTagging(ctx: RequestContext): Promise<void> {
  sendXml(ctx, tagSetXml(JSON.parse(await requireBucketConfig(ctx, bucketOf(ctx), 'tagging')) as Record<string, string>));
}

export async function putBucketTagging(ctx: RequestContext): Promise<void> {
  const tags = await readTagSet(ctx, MAX_BUCKET_TAGS, 'Bucket');
  await storeBucketConfig(ctx, bucketOf(ctx), 'tagging', JSON.stringify(tags));
  send(ctx, 204, {});
}

export async function deleteBucketTagging(ctx: RequestContext): Promise<void> {
  await storeBucketConfig(ctx, bucketOf(ctx), 'tagging', null);
  send(ctx, 204, {});
}
