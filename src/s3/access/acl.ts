import type { AclGrant, AclGrantee, AclPermission } from '../../model/records.js';
import { Errors } from '../s3-error.js';
import { ProtocolErrors } from '../errors.js';
import { ownerId } from '../owner.js';
import { childList, childNode, childText, escapeXml, parseXmlBody, type XmlNode } from '../xml.js';

/**
 * ACLs as S3 defines them: a list of grants to canonical users and to the AllUsers / AuthenticatedUsers groups, set by
 * a canned ACL (x-amz-acl), by x-amz-grant-* headers or by an AccessControlPolicy document. What Tessera has no
 * grantee for (e-mail addresses, the LogDelivery group, aws-exec-read's EC2) is refused, never stored and ignored.
 */

export const GROUP_URI = {
  AllUsers: 'http://acs.amazonaws.com/groups/global/AllUsers',
  AuthenticatedUsers: 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers',
} as const;
const LOG_DELIVERY_URI = 'http://acs.amazonaws.com/groups/s3/LogDelivery';

const PERMISSIONS: ReadonlySet<string> = new Set<AclPermission>(['FULL_CONTROL', 'READ', 'WRITE', 'READ_ACP', 'WRITE_ACP']);

const GRANT_HEADERS: ReadonlyArray<[string, AclPermission]> = [
  ['x-amz-grant-full-control', 'FULL_CONTROL'],
  ['x-amz-grant-read', 'READ'],
  ['x-amz-grant-write', 'WRITE'],
  ['x-amz-grant-read-acp', 'READ_ACP'],
  ['x-amz-grant-write-acp', 'WRITE_ACP'],
];

/** Who an ACL is about: the resource's owner, and for objects the bucket's owner (bucket-owner-* canned ACLs). */
export interface AclParties {
  owner: string;
  bucketOwner: string;
  /** Canonical ids of the users this gateway knows: a grant to anyone else is 400 InvalidArgument, as S3's unknown id. */
  knownIds: ReadonlySet<string>;
  kind: 'bucket' | 'object';
}

const user = (accessKey: string): AclGrantee => ({ type: 'CanonicalUser', id: ownerId(accessKey) });

/** The grants of a canned ACL; bucket-owner-read and bucket-owner-full-control mean only the owner's on a bucket. */
export function cannedAcl(name: string, parties: AclParties): AclGrant[] {
  const owner: AclGrant = { grantee: user(parties.owner), permission: 'FULL_CONTROL' };
  const all = (permission: AclPermission): AclGrant => ({ grantee: { type: 'Group', group: 'AllUsers' }, permission });
  const forBucketOwner = (permission: AclPermission): AclGrant[] =>
    parties.kind === 'object' && parties.bucketOwner !== parties.owner ? [{ grantee: user(parties.bucketOwner), permission }] : [];
  switch (name) {
    case 'private':
      return [owner];
    case 'public-read':
      return [owner, all('READ')];
    case 'public-read-write':
      return [owner, all('READ'), all('WRITE')];
    case 'authenticated-read':
      return [owner, { grantee: { type: 'Group', group: 'AuthenticatedUsers' }, permission: 'READ' }];
    case 'bucket-owner-read':
      return [owner, ...forBucketOwner('READ')];
    case 'bucket-owner-full-control':
      return [owner, ...forBucketOwner('FULL_CONTROL')];
    case 'aws-exec-read':
    case 'log-delivery-write':
      throw Errors.notImplemented(`x-amz-acl: ${name} (no such grantee here)`);
    default:
      throw Errors.invalidArgument('Invalid canned ACL', 'x-amz-acl', name);
  }
}

function granteeFromUri(uri: string): AclGrantee {
  if (uri === GROUP_URI.AllUsers) return { type: 'Group', group: 'AllUsers' };
  if (uri === GROUP_URI.AuthenticatedUsers) return { type: 'Group', group: 'AuthenticatedUsers' };
  if (uri === LOG_DELIVERY_URI) throw Errors.notImplemented('grants to the LogDelivery group (server access logging)');
  throw Errors.invalidArgument('Invalid group uri', 'uri', uri);
}

function granteeFromId(id: string, parties: AclParties): AclGrantee {
  if (!parties.knownIds.has(id)) throw Errors.invalidArgument('Invalid id', 'CanonicalUser/ID', id);
  return { type: 'CanonicalUser', id };
}

function unresolvableEmail(email: string): never {
  throw ProtocolErrors.unresolvableGrantByEmailAddress(email);
}

/** One x-amz-grant-* value: `id="…", uri="…", emailAddress="…"`, comma separated. */
function grantsFromHeader(value: string, permission: AclPermission, parties: AclParties): AclGrant[] {
  const grants: AclGrant[] = [];
  for (const part of value.split(',')) {
    const m = /^\s*(id|uri|emailAddress)\s*=\s*"?([^"]*)"?\s*$/i.exec(part);
    if (!m) throw Errors.invalidArgument('Invalid grant header', 'x-amz-grant', value);
    const kind = (m[1] ?? '').toLowerCase();
    const target = m[2] ?? '';
    const grantee = kind === 'id' ? granteeFromId(target, parties) : kind === 'uri' ? granteeFromUri(target) : unresolvableEmail(target);
    grants.push({ grantee, permission });
  }
  return grants;
}

function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const raw = headers[name];
  if (raw === undefined) return undefined;
  return Array.isArray(raw) ? raw.join(',') : raw;
}

/**
 * The ACL a request's headers set: x-amz-acl or x-amz-grant-* (both at once is 400, as S3); undefined when it sets
 * none (the resource keeps, or for a new one gets, the owner-only default).
 */
export function aclFromHeaders(headers: Record<string, string | string[] | undefined>, parties: AclParties): AclGrant[] | undefined {
  const canned = headerValue(headers, 'x-amz-acl');
  const explicit = GRANT_HEADERS.filter(([name]) => headers[name] !== undefined);
  if (canned !== undefined && explicit.length > 0) throw Errors.invalidRequest('Specifying both Canned ACLs and Header Grants is not allowed');
  if (canned !== undefined) return cannedAcl(canned.trim(), parties);
  if (explicit.length === 0) return undefined;
  return explicit.flatMap(([name, permission]) => grantsFromHeader(headerValue(headers, name) ?? '', permission, parties));
}

function grantFromXml(node: XmlNode, parties: AclParties): AclGrant {
  const grantee = childNode(node, 'Grantee');
  const permission = childText(node, 'Permission')?.trim();
  if (grantee === undefined || permission === undefined || !PERMISSIONS.has(permission)) throw ProtocolErrors.malformedAcl();
  const id = childText(grantee, 'ID')?.trim();
  const uri = childText(grantee, 'URI')?.trim();
  const email = childText(grantee, 'EmailAddress')?.trim();
  if ([id, uri, email].filter((v) => v !== undefined).length !== 1) throw ProtocolErrors.malformedAcl();
  const who = id !== undefined ? granteeFromId(id, parties) : uri !== undefined ? granteeFromUri(uri) : unresolvableEmail(email ?? '');
  return { grantee: who, permission: permission as AclPermission };
}

/** An AccessControlPolicy document. Its Owner, when given, must be the resource's owner (an ACL cannot change owners). */
export function aclFromXml(body: string, parties: AclParties): AclGrant[] {
  const root = parseXmlBody(body, 'AccessControlPolicy');
  const owner = childNode(root, 'Owner');
  const ownerIdText = owner === undefined ? undefined : childText(owner, 'ID')?.trim();
  if (ownerIdText !== undefined && ownerIdText !== ownerId(parties.owner)) throw ProtocolErrors.malformedAcl();
  const list = childNode(root, 'AccessControlList');
  if (list === undefined) throw ProtocolErrors.malformedAcl();
  const grants = childList(list, 'Grant').map((g) => grantFromXml(g, parties));
  if (grants.length > 100) throw ProtocolErrors.malformedAcl();
  return grants;
}

/** The grants as GetBucketAcl / GetObjectAcl write them; display names come from the access keys that own the ids. */
export function aclXmlGrants(grants: AclGrant[], displayName: (id: string) => string | undefined): string {
  const xsi = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"';
  return grants
    .map((g) => {
      const grantee =
        g.grantee.type === 'CanonicalUser'
          ? `<Grantee ${xsi} xsi:type="CanonicalUser"><ID>${g.grantee.id}</ID>${nameXml(displayName(g.grantee.id))}</Grantee>`
          : `<Grantee ${xsi} xsi:type="Group"><URI>${GROUP_URI[g.grantee.group]}</URI></Grantee>`;
      return `<Grant>${grantee}<Permission>${g.permission}</Permission></Grant>`;
    })
    .join('');
}

function nameXml(name: string | undefined): string {
  return name === undefined ? '' : `<DisplayName>${escapeXml(name)}</DisplayName>`;
}

/** A grant to everyone (AllUsers, or AuthenticatedUsers: any AWS account, which S3 treats as public too). */
export function isPublicGrants(grants: readonly AclGrant[]): boolean {
  return grants.some((g) => g.grantee.type === 'Group');
}

/** Only the owner's FULL_CONTROL (and, for an object, its bucket owner's): what BucketOwnerEnforced still accepts. */
export function isOwnerOnly(grants: readonly AclGrant[], parties: AclParties): boolean {
  const allowed = new Set([ownerId(parties.owner), ownerId(parties.bucketOwner)]);
  return grants.every((g) => g.grantee.type === 'CanonicalUser' && allowed.has(g.grantee.id) && g.permission === 'FULL_CONTROL');
}

/** What each ACL permission lets its grantee do, by IAM action (as S3 maps them), for buckets and for objects. */
const BUCKET_PERMISSION_ACTIONS: Record<AclPermission, ReadonlySet<string>> = {
  READ: new Set(['s3:ListBucket', 's3:ListBucketVersions', 's3:ListBucketMultipartUploads']),
  WRITE: new Set(['s3:PutObject', 's3:DeleteObject', 's3:DeleteObjectVersion', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts']),
  READ_ACP: new Set(['s3:GetBucketAcl']),
  WRITE_ACP: new Set(['s3:PutBucketAcl']),
  FULL_CONTROL: new Set(),
};
const OBJECT_PERMISSION_ACTIONS: Record<AclPermission, ReadonlySet<string>> = {
  READ: new Set(['s3:GetObject', 's3:GetObjectVersion']),
  WRITE: new Set(),
  READ_ACP: new Set(['s3:GetObjectAcl', 's3:GetObjectVersionAcl']),
  WRITE_ACP: new Set(['s3:PutObjectAcl', 's3:PutObjectVersionAcl']),
  FULL_CONTROL: new Set(),
};

/** Who asks: undefined for an anonymous request. */
export interface AclRequester {
  accessKey: string | undefined;
}

function granteeMatches(grantee: AclGrantee, requester: AclRequester): boolean {
  if (grantee.type === 'Group') return grantee.group === 'AllUsers' || requester.accessKey !== undefined;
  return requester.accessKey !== undefined && grantee.id === ownerId(requester.accessKey);
}

export function aclAllows(grants: readonly AclGrant[], kind: 'bucket' | 'object', requester: AclRequester, action: string, ignoreGroups: boolean): boolean {
  const table = kind === 'bucket' ? BUCKET_PERMISSION_ACTIONS : OBJECT_PERMISSION_ACTIONS;
  return grants.some((g) => {
    if (ignoreGroups && g.grantee.type === 'Group') return false;
    if (!granteeMatches(g.grantee, requester)) return false;
    if (g.permission === 'FULL_CONTROL') return Object.values(table).some((actions) => actions.has(action));
    return table[g.permission].has(action);
  });
}

/** Actions an object's own ACL can grant: the decision looks the object up only for these. */
export function objectAclCanGrant(action: string): boolean {
  return Object.values(OBJECT_PERMISSION_ACTIONS).some((actions) => actions.has(action));
}

/**
 * A stored bucket ACL: a JSON grant list, or (written before grant lists) a canned ACL's name; absent is private.
 * A document a newer version wrote that does not read as either grants nothing beyond the owner.
 */
export function storedBucketAcl(doc: string | undefined, owner: string): AclGrant[] {
  const ownerOnly: AclGrant[] = [{ grantee: user(owner), permission: 'FULL_CONTROL' }];
  if (doc === undefined) return ownerOnly;
  if (!doc.startsWith('[')) {
    try {
      return cannedAcl(doc, { owner, bucketOwner: owner, knownIds: new Set(), kind: 'bucket' });
    } catch {
      return ownerOnly;
    }
  }
  try {
    return JSON.parse(doc) as AclGrant[];
  } catch {
    return ownerOnly;
  }
}
