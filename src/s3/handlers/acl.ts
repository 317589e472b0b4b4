import type { IncomingHttpHeaders } from 'node:http';
import type { AclGrant } from '../../model/records.js';
import { aclFromHeaders, aclFromXml, aclXmlGrants, isOwnerOnly, isPublicGrants, type AclParties } from '../access/acl.js';
import type { BucketAccess, ObjectOwnership } from '../access/bucket-access.js';
import { readSmallBody } from '../body.js';
import { header, send, sendXml, type RequestContext } from '../context.js';
import { ProtocolErrors } from '../errors.js';
import { ownerId, ownerXml } from '../owner.js';
import { Errors } from '../s3-error.js';
import { childNode, childText, el, parseXmlBody, textEl, xmlDocument } from '../xml.js';
import { assertAclAllowedByBlock } from './access.js';
import { requireBucketConfig, storeBucketConfig } from './bucket-config.js';
import { bucketOf, keyOf, versionHeaders, versionIdOf } from './common.js';

/** ACLs (Get/PutBucketAcl, Get/PutObjectAcl, the ACL of a write) and Object Ownership controls. */

/** Canonical id -> access key of every user the config knows: grants may name only them, and show their names. */
const directories = new WeakMap<object, Map<string, string>>();
function directory(ctx: RequestContext): Map<string, string> {
  const users = ctx.deps.config.users;
  let map = directories.get(users);
  if (map === undefined) {
    map = new Map(users.map((u) => [ownerId(u.accessKey), u.accessKey]));
    directories.set(users, map);
  }
  return map;
}

function parties(ctx: RequestContext, kind: 'bucket' | 'object', owner: string, bucketOwner: string): AclParties {
  const known = new Set(directory(ctx).keys());
  known.add(ownerId(owner)).add(ownerId(bucketOwner));
  return { kind, owner, bucketOwner, knownIds: known };
}

async function accessOf(ctx: RequestContext, bucket: string): Promise<BucketAccess> {
  const access = await ctx.access.get(bucket);
  if (access === null) throw Errors.noSuchBucket(bucket);
  return access;
}

function ownerOnlyGrants(owner: string): AclGrant[] {
  return [{ grantee: { type: 'CanonicalUser', id: ownerId(owner) }, permission: 'FULL_CONTROL' }];
}

/** Stored form: nothing for the owner-only default, so most rows carry no ACL. */
function storedForm(grants: AclGrant[], owner: string): AclGrant[] | undefined {
  const only = grants.length === 1 && grants[0]?.grantee.type === 'CanonicalUser' && grants[0].grantee.id === ownerId(owner) && grants[0].permission === 'FULL_CONTROL';
  return only ? undefined : grants;
}

function aclDocument(ctx: RequestContext, owner: string, grants: AclGrant[]): string {
  const names = directory(ctx);
  return xmlDocument('AccessControlPolicy', [ownerXml(owner), el('AccessControlList', [aclXmlGrants(grants, (id) => names.get(id))])]);
}

/** Under BucketOwnerEnforced an ACL may only restate the owner's control (S3's AccessControlListNotSupported). */
function assertAclsEnabled(access: BucketAccess, grants: AclGrant[], p: AclParties): void {
  if (access.ownership === 'BucketOwnerEnforced' && !isOwnerOnly(grants, p)) throw ProtocolErrors.accessControlListNotSupported();
}

/** The ACL a PUT ?acl sets: from its headers or from its AccessControlPolicy body, never both. */
async function requestedAcl(ctx: RequestContext, p: AclParties): Promise<AclGrant[]> {
  const fromHeaders = aclFromHeaders(ctx.req.headers, p);
  const body = (await readSmallBody(ctx)).toString('utf8');
  if (fromHeaders !== undefined && body.trim() !== '') throw Errors.invalidRequest('Specifying both an ACL document and ACL headers is not allowed');
  if (fromHeaders !== undefined) return fromHeaders;
  if (body.trim() === '') throw ProtocolErrors.malformedAcl();
  return aclFromXml(body, p);
}

export async function getBucketAcl(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const access = await accessOf(ctx, bucket);
  sendXml(ctx, aclDocument(ctx, access.owner, access.acl));
}

export async function putBucketAcl(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const access = await accessOf(ctx, bucket);
  const p = parties(ctx, 'bucket', access.owner, access.owner);
  const grants = await requestedAcl(ctx, p);
  assertAclsEnabled(access, grants, p);
  await assertAclAllowedByBlock(ctx, bucket, isPublicGrants(grants));
  const stored = storedForm(grants, access.owner);
  await storeBucketConfig(ctx, bucket, 'acl', stored === undefined ? null : JSON.stringify(stored));
  send(ctx, 200, {});
}

/** Under BucketOwnerEnforced the bucket owner owns every object, whoever wrote it. */
function effectiveOwner(access: BucketAccess, stored: string | undefined): string {
  return access.ownership === 'BucketOwnerEnforced' ? access.owner : (stored ?? access.owner);
}

export async function getObjectAcl(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const access = await accessOf(ctx, bucket);
  const record = await ctx.deps.service.headObject(bucket, keyOf(ctx), versionIdOf(ctx));
  const owner = effectiveOwner(access, record.owner);
  const grants = access.ownership === 'BucketOwnerEnforced' ? undefined : record.grants;
  sendXml(ctx, aclDocument(ctx, owner, grants ?? ownerOnlyGrants(owner)), 200, versionHeaders(record.versionId));
}

export async function putObjectAcl(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const key = keyOf(ctx);
  const access = await accessOf(ctx, bucket);
  const versionId = versionIdOf(ctx);
  const record = await ctx.deps.service.headObject(bucket, key, versionId);
  const owner = effectiveOwner(access, record.owner);
  const p = parties(ctx, 'object', owner, access.owner);
  const grants = await requestedAcl(ctx, p);
  assertAclsEnabled(access, grants, p);
  await assertAclAllowedByBlock(ctx, bucket, isPublicGrants(grants));
  const stored = access.ownership === 'BucketOwnerEnforced' ? undefined : storedForm(grants, owner);
  await ctx.deps.service.putObjectAcl(bucket, key, stored ?? null, versionId);
  send(ctx, 200, versionHeaders(record.versionId));
}

/**
 * Owner and ACL of an object a request writes (PutObject, CopyObject, CreateMultipartUpload), from x-amz-acl or
 * x-amz-grant-* and the bucket's Object Ownership: the writer owns it, except under BucketOwnerEnforced, and under
 * BucketOwnerPreferred when written with bucket-owner-full-control. Absent fields: the bucket owner's, private.
 */
export async function aclOfWrite(ctx: RequestContext, bucket: string, headers: IncomingHttpHeaders = ctx.req.headers): Promise<{ owner?: string; grants?: AclGrant[] }> {
  const access = await ctx.access.get(bucket);
  if (access === null) return {};
  const writer = ctx.user?.accessKey ?? access.owner;
  const cannedRaw = headers['x-amz-acl'];
  const canned = (Array.isArray(cannedRaw) ? cannedRaw.join(',') : cannedRaw)?.trim();
  const bucketOwned =
    access.ownership === 'BucketOwnerEnforced' || (access.ownership === 'BucketOwnerPreferred' && canned === 'bucket-owner-full-control');
  const owner = bucketOwned ? access.owner : writer;
  const p = parties(ctx, 'object', owner, access.owner);
  const grants = aclFromHeaders(headers, p);
  if (grants === undefined) return owner === access.owner ? {} : { owner };
  assertAclsEnabled(access, grants, p);
  await assertAclAllowedByBlock(ctx, bucket, isPublicGrants(grants));
  const stored = access.ownership === 'BucketOwnerEnforced' ? undefined : storedForm(grants, owner);
  return { ...(owner !== access.owner ? { owner } : {}), ...(stored !== undefined ? { grants: stored } : {}) };
}

const OWNERSHIPS: ReadonlySet<string> = new Set<ObjectOwnership>(['BucketOwnerEnforced', 'BucketOwnerPreferred', 'ObjectWriter']);

/** x-amz-object-ownership of a CreateBucket; undefined when absent. */
export function ownershipHeader(ctx: RequestContext): ObjectOwnership | undefined {
  const value = header(ctx, 'x-amz-object-ownership')?.trim();
  if (value === undefined) return undefined;
  if (!OWNERSHIPS.has(value)) throw Errors.invalidArgument('Invalid x-amz-object-ownership header', 'x-amz-object-ownership', value);
  return value as ObjectOwnership;
}

/** The ACL and ownership a CreateBucket sets, checked together (an ACL for others cannot meet BucketOwnerEnforced). */
export function aclOfNewBucket(ctx: RequestContext, owner: string): { acl: AclGrant[] | undefined; ownership: ObjectOwnership | undefined } {
  const p = parties(ctx, 'bucket', owner, owner);
  const grants = aclFromHeaders(ctx.req.headers, p);
  const ownership = ownershipHeader(ctx);
  if (ownership === 'BucketOwnerEnforced' && grants !== undefined && !isOwnerOnly(grants, p)) throw ProtocolErrors.invalidBucketAclWithObjectOwnership();
  return { acl: grants === undefined ? undefined : storedForm(grants, owner), ownership };
}

export async function getBucketOwnershipControls(ctx: RequestContext): Promise<void> {
  const ownership = await requireBucketConfig(ctx, bucketOf(ctx), 'ownership');
  sendXml(ctx, xmlDocument('OwnershipControls', [el('Rule', [textEl('ObjectOwnership', ownership)])]));
}

export async function putBucketOwnershipControls(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const root = parseXmlBody((await readSmallBody(ctx)).toString('utf8'), 'OwnershipControls');
  const value = childText(childNode(root, 'Rule'), 'ObjectOwnership')?.trim();
  if (value === undefined || !OWNERSHIPS.has(value)) throw Errors.malformedXML();
  const access = await accessOf(ctx, bucket);
  if (value === 'BucketOwnerEnforced' && !isOwnerOnly(access.acl, parties(ctx, 'bucket', access.owner, access.owner))) {
    throw ProtocolErrors.invalidBucketAclWithObjectOwnership();
  }
  await storeBucketConfig(ctx, bucket, 'ownership', value);
  send(ctx, 200, {});
}

export async function deleteBucketOwnershipControls(ctx: RequestContext): Promise<void> {
  await storeBucketConfig(ctx, bucketOf(ctx), 'ownership', null);
  send(ctx, 204, {});
}
