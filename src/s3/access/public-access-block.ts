import { Errors } from '../s3-error.js';
import { childText, el, parseXmlBody, textEl, xmlDocument } from '../xml.js';

export interface PublicAccessBlock {
  BlockPublicAcls: boolean;
  IgnorePublicAcls: boolean;
  BlockPublicPolicy: boolean;
  RestrictPublicBuckets: boolean;
}

const FIELDS = ['BlockPublicAcls', 'IgnorePublicAcls', 'BlockPublicPolicy', 'RestrictPublicBuckets'] as const;

export const NO_BLOCK: PublicAccessBlock = { BlockPublicAcls: false, IgnorePublicAcls: false, BlockPublicPolicy: false, RestrictPublicBuckets: false };

export function parsePublicAccessBlock(xml: string): PublicAccessBlock {
  const root = parseXmlBody(xml, 'PublicAccessBlockConfiguration');
  const out = { ...NO_BLOCK };
  for (const f of FIELDS) {
    const v = childText(root, f)?.trim().toLowerCase();
    if (v === undefined) continue;
    if (v !== 'true' && v !== 'false') throw Errors.malformedXML();
    out[f] = v === 'true';
  }
  return out;
}

export function publicAccessBlockXml(b: PublicAccessBlock): string {
  return xmlDocument('PublicAccessBlockConfiguration', FIELDS.map((f) => textEl(f, b[f])));
}

export function policyStatusXml(isPublic: boolean): string {
  return xmlDocument('PolicyStatus', [el('IsPublic', [String(isPublic)])]);
}
