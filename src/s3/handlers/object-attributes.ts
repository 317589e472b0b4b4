import { MAX_PART_NUMBER } from '../../model/limits.js';
import type { StoredChecksum } from '../../model/records.js';
import { checksumElementName } from '../checksum-headers.js';
import { header, sendXml, type RequestContext } from '../context.js';
import { Errors } from '../s3-error.js';
import { parseIntParam } from '../validation.js';
import { el, textEl, xmlDocument } from '../xml.js';
import { loadWithConditions } from './object-read.js';
import { versionHeaders } from './common.js';

const ATTRIBUTES = ['ETag', 'Checksum', 'ObjectParts', 'StorageClass', 'ObjectSize'] as const;
type Attribute = (typeof ATTRIBUTES)[number];

/** x-amz-object-attributes: a comma-separated, non-empty list of the five names S3 knows. */
function requestedAttributes(ctx: RequestContext): Set<Attribute> {
  const raw = header(ctx, 'x-amz-object-attributes') ?? '';
  const names = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (names.length === 0) throw Errors.invalidArgument('The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty', 'x-amz-object-attributes', raw);
  const out = new Set<Attribute>();
  for (const n of names) {
    if (!(ATTRIBUTES as readonly string[]).includes(n)) throw Errors.invalidArgument('Invalid attribute name specified.', 'x-amz-object-attributes', n);
    out.add(n as Attribute);
  }
  return out;
}

function checksumValue(c: StoredChecksum): string {
  // The object's composite value carries S3's "-N" suffix in headers; GetObjectAttributes gives the bare digest.
  return c.value.replace(/-\d+$/, '');
}

/** GetObjectAttributes: the metadata of an object without its body (conditions as on GET). */
export async function getObjectAttributes(ctx: RequestContext): Promise<void> {
  const wanted = requestedAttributes(ctx);
  const maxParts = parseIntParam(header(ctx, 'x-amz-max-parts') ?? null, 'x-amz-max-parts', 0, 1000, 1000);
  const marker = parseIntParam(header(ctx, 'x-amz-part-number-marker') ?? null, 'x-amz-part-number-marker', 0, MAX_PART_NUMBER, 0);
  const record = await loadWithConditions(ctx);
  const children: string[] = [];
  if (wanted.has('ETag')) children.push(textEl('ETag', record.etag.replace(/^"|"$/g, '')));
  if (wanted.has('Checksum') && record.checksum) {
    children.push(el('Checksum', [textEl(checksumElementName(record.checksum.algorithm), checksumValue(record.checksum)), textEl('ChecksumType', record.checksum.type)]));
  }
  if (wanted.has('ObjectParts') && record.parts && record.parts.length > 0) {
    const after = record.parts.filter((p) => p.partNumber > marker);
    const page = after.slice(0, maxParts);
    const truncated = after.length > page.length;
    children.push(
      el('ObjectParts', [
        textEl('PartsCount', record.parts.length),
        textEl('PartNumberMarker', marker),
        textEl('NextPartNumberMarker', page[page.length - 1]?.partNumber ?? marker),
        textEl('MaxParts', maxParts),
        textEl('IsTruncated', truncated),
        ...page.map((p) =>
          el('Part', [textEl('PartNumber', p.partNumber), textEl('Size', p.size), p.checksum ? textEl(checksumElementName(p.checksum.algorithm), checksumValue(p.checksum)) : undefined]),
        ),
      ]),
    );
  }
  if (wanted.has('StorageClass')) children.push(textEl('StorageClass', record.headers.storageClass ?? 'STANDARD'));
  if (wanted.has('ObjectSize')) children.push(textEl('ObjectSize', record.size));
  sendXml(ctx, xmlDocument('GetObjectAttributesResponse', children), 200, {
    'last-modified': new Date(record.lastModified).toUTCString(),
    ...versionHeaders(record.versionId),
  });
}
