import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { Errors } from './s3-error.js';

export const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n';

/**
 * Characters escapeXml changes: the five markup characters, CR (so parsers cannot normalise it away) and the characters
 * XML 1.0 cannot carry at all, even escaped, which go out as character references (S3 keys may contain them;
 * encoding-type=url exists for that).
 */
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[&<>"'\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
// eslint-disable-next-line no-control-regex
const ESCAPED_CHARS = /[&<>"'\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/**
 * One test, then at most one pass: most text (keys, dates) needs nothing, and a listing escapes thousands of strings
 * (every ETag has quotes). Each character maps on its own, so the result equals replacing one character kind at a time.
 */
export function escapeXml(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return text;
  return text.replace(ESCAPED_CHARS, (c) => ENTITIES[c] ?? `&#${c.charCodeAt(0)};`);
}

/** Pre-rendered XML fragments; children that are undefined are left out, so optional elements read naturally. */
export type XmlChild = string | undefined | false;

/** `<name>escaped text</name>`; undefined value -> omitted element. */
export function textEl(name: string, value: string | number | boolean | undefined): string {
  if (value === undefined) return '';
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

export function el(name: string, children: XmlChild[]): string {
  return `<${name}>${children.filter((c): c is string => typeof c === 'string').join('')}</${name}>`;
}

/** A whole response document with the S3 namespace on the root element. */
export function xmlDocument(root: string, children: XmlChild[], namespaced = true): string {
  const open = namespaced ? `<${root} xmlns="${S3_XMLNS}">` : `<${root}>`;
  return `${XML_DECL}${open}${children.filter((c): c is string => typeof c === 'string').join('')}</${root}>`;
}

/** The last second formatted: a listing page's rows mostly share a few timestamps, and toISOString is not free. */
let isoSecond = NaN;
let isoText = '';

export function isoDate(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    isoText = new Date(ms).toISOString().replace(/\.\d{3}Z$/, '.000Z');
    isoSecond = second;
  }
  return isoText;
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing request bodies. Entity processing is off (no DTD, no entity expansion: billion-laughs and XXE are out by
// construction); the five predefined entities and character references are decoded by us, in text only.

/** A parsed element: text content or child elements by name (repeated names -> arrays for the names we declare). */
export type XmlNode = string | { [name: string]: XmlNode | XmlNode[] };

const REPEATED = new Set(['Object', 'Part', 'Tag', 'Grant']);
const MAX_DEPTH = 16;

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  processEntities: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  maxNestedTags: MAX_DEPTH,
  isArray: (name) => REPEATED.has(name),
});

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Decodes predefined entities and numeric references; anything else (an undeclared entity) is malformed. */
export function decodeXmlText(text: string): string {
  return text.replace(/&([^;&\s]*);?/g, (whole, name: string) => {
    if (!whole.endsWith(';')) throw Errors.malformedXML();
    const predefined = PREDEFINED[name];
    if (predefined !== undefined) return predefined;
    const num = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(name);
    if (num) {
      const code = num[1] !== undefined ? parseInt(num[1], 16) : parseInt(num[2] ?? '', 10);
      if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff) || code === 0) throw Errors.malformedXML();
      return String.fromCodePoint(code);
    }
    throw Errors.malformedXML();
  });
}

/**
 * Parses a request body and returns the content of its root element, which must be named `rootName`.
 * Any problem (not well-formed, DTD, wrong root, too deep) is MalformedXML, never a 500.
 */
export function parseXmlBody(xml: string, rootName: string): { [name: string]: XmlNode | XmlNode[] } {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw Errors.malformedXML();
  if (XMLValidator.validate(xml) !== true) throw Errors.malformedXML();
  let parsed: unknown;
  try {
    parsed = parser.parse(xml);
  } catch {
    throw Errors.malformedXML();
  }
  if (typeof parsed !== 'object' || parsed === null) throw Errors.malformedXML();
  const roots = Object.keys(parsed).filter((k) => k !== '#text');
  if (roots.length !== 1 || roots[0] !== rootName) throw Errors.malformedXML();
  const root = (parsed as Record<string, unknown>)[rootName];
  if (root === '' || root === undefined) return {};
  if (typeof root !== 'object' || root === null || Array.isArray(root)) throw Errors.malformedXML();
  return root as { [name: string]: XmlNode | XmlNode[] };
}

/** Text of a child element (entity-decoded), undefined when absent; an element with children where text belongs is malformed. */
export function childText(node: XmlNode | XmlNode[] | undefined, name: string): string | undefined {
  if (node === undefined || typeof node === 'string' || Array.isArray(node)) return undefined;
  const child = node[name];
  if (child === undefined) return undefined;
  if (Array.isArray(child)) throw Errors.malformedXML();
  if (typeof child === 'string') return decodeXmlText(child);
  // An element holding only whitespace between child elements is not text.
  throw Errors.malformedXML();
}

/** Child elements with this name, as a list (the repeated names are always arrays from the parser). */
export function childList(node: XmlNode | XmlNode[] | undefined, name: string): XmlNode[] {
  if (node === undefined || typeof node === 'string' || Array.isArray(node)) return [];
  const child = node[name];
  if (child === undefined) return [];
  return Array.isArray(child) ? child : [child];
}

export function childNode(node: XmlNode | XmlNode[] | undefined, name: string): XmlNode | undefined {
  if (node === undefined || typeof node === 'string' || Array.isArray(node)) return undefined;
  const child = node[name];
  if (Array.isArray(child)) throw Errors.malformedXML();
  return child;
}
