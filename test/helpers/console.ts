/** Talking to the operators' console over plain HTTP, as a browser would (cookies, forms, Origin). */

export interface ConsoleReply {
  status: number;
  headers: Headers;
  body: string;
}

export async function consoleRequest(
  base: string,
  path: string,
  opts: { method?: string; cookie?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
): Promise<ConsoleReply> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.cookie !== undefined) headers.cookie = opts.cookie;
  let body: string | undefined;
  if (opts.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(opts.form).toString();
  }
  const r = await fetch(`${base}${path}`, { method: opts.method ?? (opts.form ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
  return { status: r.status, headers: r.headers, body: await r.text() };
}

/** The session cookie ("name=value") a sign-in set, or undefined. */
export function sessionCookie(reply: ConsoleReply): string | undefined {
  const set = reply.headers.getSetCookie().find((c) => c.includes('tessera_console='));
  return set?.split(';')[0];
}

export async function signInAs(base: string, accessKey: string, secretKey: string): Promise<{ reply: ConsoleReply; cookie: string | undefined }> {
  const reply = await consoleRequest(base, '/login', { form: { accessKey, secretKey }, headers: { origin: base } });
  return { reply, cookie: sessionCookie(reply) };
}

/** The CSRF token embedded in a page's forms. */
export function csrfOf(html: string): string {
  const m = /name="csrf" value="([^"]+)"/.exec(html);
  if (!m?.[1]) throw new Error('no CSRF token in the page');
  return m[1];
}

/** The text of an element marked data-figure="name" (the first one, or the one inside a row marked `row`). */
export function figureOf(html: string, name: string, row?: string): string | undefined {
  const scope = row === undefined ? html : (html.split(row)[1] ?? '').split('</tr>')[0] ?? '';
  const m = new RegExp(`data-figure="${name}"[^>]*>([^<]*)<`).exec(scope);
  return m?.[1];
}
