import { Errors, S3Error } from '../s3-error.js';
import { childList, childText, el, parseXmlBody, textEl, xmlDocument, type XmlNode } from '../xml.js';

/** A bucket's CORS rules (Put/Get/DeleteBucketCors), matched as S3 does: the first rule that fits wins. */
export interface CorsRule {
  id?: string;
  methods: string[];
  origins: string[];
  headers: string[];
  expose: string[];
  maxAgeSeconds?: number;
}

const METHODS: ReadonlySet<string> = new Set(['GET', 'PUT', 'POST', 'DELETE', 'HEAD']);
const MAX_RULES = 100;

function texts(node: XmlNode, name: string): string[] {
  return childList(node, name).map((n) => {
    if (typeof n !== 'string') throw Errors.malformedXML();
    return n.trim();
  });
}

function oneWildcard(value: string, what: string): void {
  if ((value.match(/\*/g) ?? []).length > 1) throw new S3Error('InvalidRequest', `${what} "${value}" can not have more than one wildcard.`, 400);
}

export function parseCors(xml: string): CorsRule[] {
  const root = parseXmlBody(xml, 'CORSConfiguration');
  const rules = childList(root, 'CORSRule');
  if (rules.length === 0 || rules.length > MAX_RULES) throw Errors.malformedXML();
  return rules.map((r): CorsRule => {
    const methods = texts(r, 'AllowedMethod');
    const origins = texts(r, 'AllowedOrigin');
    if (methods.length === 0 || origins.length === 0) throw Errors.malformedXML();
    for (const m of methods) if (!METHODS.has(m)) throw new S3Error('InvalidRequest', `Found unsupported HTTP method in CORS config. Unsupported method is ${m}`, 400);
    for (const o of origins) oneWildcard(o, 'AllowedOrigin');
    const headers = texts(r, 'AllowedHeader');
    for (const h of headers) oneWildcard(h, 'AllowedHeader');
    const maxAge = childText(r, 'MaxAgeSeconds');
    if (maxAge !== undefined && !/^\d{1,9}$/.test(maxAge.trim())) throw Errors.malformedXML();
    const id = childText(r, 'ID');
    return {
      ...(id !== undefined ? { id } : {}),
      methods,
      origins,
      headers,
      expose: texts(r, 'ExposeHeader'),
      ...(maxAge !== undefined ? { maxAgeSeconds: Number(maxAge.trim()) } : {}),
    };
  });
}

export function corsXml(rules: readonly CorsRule[]): string {
  return xmlDocument(
    'CORSConfiguration',
    rules.map((r) =>
      el('CORSRule', [
        r.id !== undefined ? textEl('ID', r.id) : undefined,
        ...r.headers.map((h) => textEl('AllowedHeader', h)),
        ...r.methods.map((m) => textEl('AllowedMethod', m)),
        ...r.origins.map((o) => textEl('AllowedOrigin', o)),
        ...r.expose.map((h) => textEl('ExposeHeader', h)),
        r.maxAgeSeconds !== undefined ? textEl('MaxAgeSeconds', r.maxAgeSeconds) : undefined,
      ]),
    ),
  );
}

/** One '*' anywhere in the pattern; case-insensitive for headers, exact for origins (as S3). */
function wildcard(pattern: string, value: string, caseInsensitive: boolean): boolean {
  const p = caseInsensitive ? pattern.toLowerCase() : pattern;
  const v = caseInsensitive ? value.toLowerCase() : value;
  const star = p.indexOf('*');
  if (star < 0) return p === v;
  return v.length >= p.length - 1 && v.startsWith(p.slice(0, star)) && v.endsWith(p.slice(star + 1));
}

/** The first rule allowing this origin, method and (for a preflight) request headers. */
export function matchCors(rules: readonly CorsRule[], origin: string, method: string, requestHeaders: readonly string[] = []): CorsRule | undefined {
  return rules.find(
    (r) =>
      r.origins.some((o) => wildcard(o, origin, false)) &&
      r.methods.includes(method) &&
      requestHeaders.every((h) => r.headers.some((a) => wildcard(a, h, true))),
  );
}

/** The Access-Control-* headers of a response to `origin` under `rule`. */
export function corsHeaders(rule: CorsRule, origin: string, preflight: { requestHeaders: readonly string[] } | undefined): Record<string, string> {
  const anyOrigin = rule.origins.includes('*');
  const out: Record<string, string> = {
    'access-control-allow-origin': anyOrigin ? '*' : origin,
    'access-control-allow-methods': rule.methods.join(', '),
    vary: 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method',
  };
  // S3 allows credentials for a named origin (never with '*', which browsers would refuse anyway).
  if (!anyOrigin) out['access-control-allow-credentials'] = 'true';
  if (rule.expose.length > 0) out['access-control-expose-headers'] = rule.expose.join(', ');
  if (preflight) {
    if (preflight.requestHeaders.length > 0) out['access-control-allow-headers'] = preflight.requestHeaders.join(', ');
    if (rule.maxAgeSeconds !== undefined) out['access-control-max-age'] = String(rule.maxAgeSeconds);
  }
  return out;
}
