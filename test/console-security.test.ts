/**
 * The console refuses everyone but admins: anonymous requests, non-admin keys, wrong secrets, forged and expired
 * sessions and cross-site requests get the sign-in page or a refusal, never a figure; no secret reaches any page.
 */
import { readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { parse } from 'yaml';
import { ADMIN, nodeSecret, putPattern, startCluster, type Cluster } from './helpers/cluster.js';
import { consoleRequest, csrfOf, signInAs } from './helpers/console.js';

const READER = { accessKey: 'console-reader', secretKey: 'console-reader-secret-0123456789', buckets: { data: 'read' } };
const WRITER = { accessKey: 'console-writer', secretKey: 'console-writer-secret-0123456789', buckets: { '*': 'write' } };
const PAGES = ['/', '/nodes', '/tiers', '/buckets', '/requests', '/cost'];

describe('console access', () => {
  let cluster: Cluster;
  let base: string;

  beforeAll(async () => {
    cluster = await startCluster({ nodes: 3, cold: { k: 2, m: 1, segmentSize: '1MiB', chunkSize: '64KiB' }, console: { port: 0, sessionTtl: '4s' }, extraUsers: [READER, WRITER] });
    base = cluster.gateway.consoleUrl;
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const s3 = cluster.s3();
    await s3.send(new CreateBucketCommand({ Bucket: 'data' }));
    await putPattern(s3, 'data', 'secret-plans.bin', 'seed', 100_000);
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  test('anonymous requests get the sign-in page and nothing else', async () => {
    for (const path of PAGES) {
      const r = await consoleRequest(base, path);
      expect(r.status, path).toBe(303);
      expect(r.headers.get('location'), path).toBe('/login');
      expect(r.body).not.toContain('data');
    }
    const api = await consoleRequest(base, '/api/jobs');
    expect(api.status).toBe(401);
    const action = await consoleRequest(base, '/actions/maintenance', { form: { kind: 'scrub' }, headers: { origin: base } });
    expect(action.status).toBe(403);
    const login = await consoleRequest(base, '/login');
    expect(login.status).toBe(200);
    expect(login.body).toContain('<form method="post" action="/login"');
    expect(login.body).not.toContain('secret-plans');
  });

  test('a non-admin key and a wrong secret are refused without a session', async () => {
    for (const user of [READER, WRITER]) {
      const { reply, cookie } = await signInAs(base, user.accessKey, user.secretKey);
      expect(reply.status, user.accessKey).toBe(403);
      expect(reply.body).toContain('not an administrator');
      expect(cookie).toBeUndefined();
    }
    const wrong = await signInAs(base, ADMIN.accessKey, `${ADMIN.secretKey}x`);
    expect(wrong.reply.status).toBe(401);
    expect(wrong.cookie).toBeUndefined();
    const unknown = await signInAs(base, 'nobody', 'whatever');
    expect(unknown.reply.status).toBe(401);
    expect(unknown.reply.body).toBe(wrong.reply.body);
  });

  test("an admin's session cookie is HttpOnly, SameSite=Strict; sign-out ends it", async () => {
    const { reply, cookie } = await signInAs(base, ADMIN.accessKey, ADMIN.secretKey);
    expect(reply.status).toBe(303);
    const set = reply.headers.getSetCookie().join('\n');
    expect(set).toMatch(/HttpOnly/);
    expect(set).toMatch(/SameSite=Strict/);
    expect(set).toMatch(/Path=\//);
    expect(set).not.toMatch(/Secure/); // plain HTTP here; on TLS the cookie is __Host- and Secure
    const home = await consoleRequest(base, '/', { cookie: cookie! });
    expect(home.status).toBe(200);
    expect(home.body).toContain('Durability');
    const out = await consoleRequest(base, '/logout', { cookie: cookie!, form: { csrf: csrfOf(home.body) }, headers: { origin: base } });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/login');
    const after = await consoleRequest(base, '/', { cookie: cookie! });
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toBe('/login');
  });

  test('forged and expired sessions are no sessions', async () => {
    for (const forged of [`tessera_console=${randomBytes(32).toString('base64url')}`, 'tessera_console=', 'tessera_console=../../etc/passwd']) {
      const r = await consoleRequest(base, '/nodes', { cookie: forged });
      expect(r.status, forged).toBe(303);
      expect(r.headers.get('location')).toBe('/login');
    }
    const { cookie } = await signInAs(base, ADMIN.accessKey, ADMIN.secretKey);
    expect((await consoleRequest(base, '/nodes', { cookie: cookie! })).status).toBe(200);
    // The cluster's sessionTtl is 4 s: a session ends then, however active.
    await new Promise((r) => setTimeout(r, 4_300));
    const expired = await consoleRequest(base, '/nodes', { cookie: cookie! });
    expect(expired.status).toBe(303);
    expect(expired.headers.get('location')).toBe('/login');
  });

  test('cross-site requests and forms without the CSRF token change nothing', async () => {
    const { cookie } = await signInAs(base, ADMIN.accessKey, ADMIN.secretKey);
    const home = await consoleRequest(base, '/', { cookie: cookie! });
    const csrf = csrfOf(home.body);
    const attempts: Array<{ form: Record<string, string>; headers: Record<string, string>; why: string }> = [
      { form: { kind: 'scrub', csrf }, headers: { origin: 'http://evil.example' }, why: 'another origin' },
      { form: { kind: 'scrub', csrf }, headers: { origin: 'null' }, why: 'an opaque origin' },
      { form: { kind: 'scrub', csrf }, headers: { 'sec-fetch-site': 'cross-site' }, why: 'a cross-site fetch' },
      { form: { kind: 'scrub', csrf }, headers: { 'sec-fetch-site': 'same-site', origin: 'http://sub.127.0.0.1' }, why: 'a sibling site' },
      { form: { kind: 'scrub' }, headers: { origin: base }, why: 'no token' },
      { form: { kind: 'scrub', csrf: `${csrf}x` }, headers: { origin: base }, why: 'a wrong token' },
    ];
    for (const a of attempts) {
      const r = await consoleRequest(base, '/actions/maintenance', { cookie: cookie!, form: a.form, headers: a.headers });
      expect(r.status, a.why).toBe(403);
    }
    const signOut = await consoleRequest(base, '/logout', { cookie: cookie!, form: { csrf }, headers: { origin: 'http://evil.example' } });
    expect(signOut.status).toBe(403);
    const jobs = await consoleRequest(base, '/api/jobs', { cookie: cookie! });
    expect(jobs.status).toBe(200);
    expect(JSON.parse(jobs.body)).toEqual([]);
    // Sign-in from another site's form is refused too (login CSRF).
    const foreign = await consoleRequest(base, '/login', { form: { accessKey: ADMIN.accessKey, secretKey: ADMIN.secretKey }, headers: { origin: 'http://evil.example' } });
    expect(foreign.status).toBe(403);
    // The same action from the console's own page runs.
    const ok = await consoleRequest(base, '/actions/maintenance', { cookie: cookie!, form: { kind: 'scrub', csrf, back: '/' }, headers: { origin: base } });
    expect(ok.status).toBe(303);
    const after = JSON.parse((await consoleRequest(base, '/api/jobs', { cookie: cookie! })).body) as Array<{ kind: string; by: string }>;
    expect(after.map((j) => [j.kind, j.by])).toEqual([['scrub', ADMIN.accessKey]]);
  });

  test('no secret appears in any page or response', async () => {
    const config = parse(await readFile(cluster.configFile, 'utf8')) as { keys: { masterKeys: Array<{ key: string }> } };
    const secrets = [ADMIN.secretKey, READER.secretKey, WRITER.secretKey, ...cluster.nodes.map((n) => nodeSecret(n.name)), ...config.keys.masterKeys.map((k) => k.key)];
    const { cookie, reply } = await signInAs(base, ADMIN.accessKey, ADMIN.secretKey);
    const token = cookie!.split('=')[1]!;
    const bodies = [reply.body];
    const headerTexts = [JSON.stringify([...reply.headers.entries()].filter(([k]) => k !== 'set-cookie'))];
    for (const path of [...PAGES, '/api/jobs', '/assets/console.css', '/assets/console.js', '/login', '/no-such-page']) {
      const r = await consoleRequest(base, path, { cookie: cookie! });
      bodies.push(r.body);
      headerTexts.push(JSON.stringify([...r.headers.entries()]));
    }
    bodies.push((await signInAs(base, ADMIN.accessKey, 'wrong')).reply.body);
    for (const text of [...bodies, ...headerTexts]) {
      for (const s of secrets) expect(text.includes(s), `a secret in a response`).toBe(false);
      // The session token is only ever in Set-Cookie, never in a page.
      expect(text.includes(token)).toBe(false);
    }
    // Nor in the gateway's log.
    const log = cluster.gateway.output();
    for (const s of [...secrets, token]) expect(log.includes(s)).toBe(false);
  });

  test('repeated failed sign-ins from one address are throttled', async () => {
    let last = 0;
    for (let i = 0; i < 12; i++) last = (await signInAs(base, ADMIN.accessKey, `wrong-${i}`)).reply.status;
    expect(last).toBe(429);
    // Even the right secret waits out the window.
    const right = await signInAs(base, ADMIN.accessKey, ADMIN.secretKey);
    expect(right.reply.status).toBe(429);
    expect(right.cookie).toBeUndefined();
    expect(Number(right.reply.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
