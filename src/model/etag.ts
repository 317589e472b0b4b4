/**
 * The one ETag helper. S3 ETags travel quoted ("hex" or "hex-N"); clients send them quoted, unquoted or weak (W/"..."),
 * so every comparison goes through the bare value.
 */
export function unquoteEtag(etag: string): string {
  return etag.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

export function quoteEtag(bare: string): string {
  return `"${bare}"`;
}

export function sameEtag(a: string, b: string): boolean {
  return unquoteEtag(a) === unquoteEtag(b);
}

/** True when an If-Match / If-None-Match list names this ETag ("*" matches any existing object). */
export function etagListMatches(header: string, etag: string): boolean {
  return header.split(',').some((candidate) => {
    const c = candidate.trim();
    return c === '*' || sameEtag(c, etag);
  });
}
