import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TesseraConfig } from '../config/types.js';
import type { Gateway } from '../gateway/gateway.js';
import type { TieringAction } from '../gateway/tiering.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';
import { ConsoleFigures } from './figures.js';
import { CONSOLE_CSS, CONSOLE_ICON, CONSOLE_JS, h, page, PAGES, type Frame, type Html, type PagePath } from './html.js';
import { ConsoleJobs } from './jobs.js';
import { bucketsBody, costBody, loginBody, nodesBody, overviewBody, requestsBody, tiersBody } from './pages.js';
import { MetricsSampler } from './sampler.js';
import { SessionStore, sameSecret, type Session } from './sessions.js';
import { signIn, SignInThrottle } from './sign-in.js';

export interface ConsoleServer {
  url: string;
  close(): Promise<void>;
}

export interface ConsoleDeps {
  gateway: Gateway;
  config: TesseraConfig;
  metrics: Metrics;
  logger: Logger;
}

/** Forms are a few fields: anything larger is not the console's. */
const MAX_FORM_BYTES = 16 * 1024;

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  // Not no-referrer: under it browsers send "Origin: null" with the console's own forms, and the origin check needs it.
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

class RequestRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function cookieValue(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new RequestRefused(415, 'forms only (application/x-www-form-urlencoded)');
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > MAX_FORM_BYTES) throw new RequestRefused(413, 'form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/**
 * The operators' web console on a listener of its own (docs/CONSOLE.md). Every page but the sign-in page needs the
 * session of an admin; every action is a POST that must come from the console's own pages (Origin and
 * Sec-Fetch-Site checked, and the session's CSRF token in the form).
 */
export async function startConsoleServer(deps: ConsoleDeps): Promise<ConsoleServer> {
  const { gateway: g, config, metrics, logger } = deps;
  const tls = config.server.tls;
  const cookieName = tls ? '__Host-tessera_console' : 'tessera_console';
  const sessions = new SessionStore(config.console.sessionTtlMs, config.console.sessionIdleMs);
  const throttle = new SignInThrottle();
  const figures = new ConsoleFigures(g, config);
  const sampler = new MetricsSampler(metrics, config.console.sampleIntervalMs);
  const jobs = new ConsoleJobs({ g, config, metrics, log: logger, onFinish: () => figures.invalidate() });
  const flashes = new WeakMap<Session, Frame['flash']>();
  sampler.start();

  const send = (res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string | string[]> = {}): void => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  };
  const redirect = (res: ServerResponse, to: string, headers: Record<string, string | string[]> = {}): void => send(res, 303, 'text/plain; charset=utf-8', '', { location: to, ...headers });
  const html = (res: ServerResponse, status: number, frame: Frame): void => send(res, status, 'text/html; charset=utf-8', page(frame));
  const cookie = (value: string, maxAgeS: number): string => `${cookieName}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${tls ? '; Secure' : ''}`;

  /** A request that changes something must come from a page of this console, not another site. */
  const fromOurPages = (req: IncomingMessage): boolean => {
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    return origin === `${tls ? 'https' : 'http'}://${req.headers.host ?? ''}`;
  };

  const address = (req: IncomingMessage): string => req.socket.remoteAddress ?? 'unknown';

  async function signInPost(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!fromOurPages(req)) throw new RequestRefused(403, 'cross-site request refused');
    const wait = throttle.retryAfterMs(address(req));
    if (wait > 0) {
      send(res, 429, 'text/html; charset=utf-8', page({ title: 'Sign in', path: '/login', body: loginBody('Too many failed sign-ins from this address: try again later.') }), { 'retry-after': String(Math.ceil(wait / 1000)) });
      return;
    }
    const form = await readForm(req);
    const outcome = signIn(config.users, form.get('accessKey') ?? '', form.get('secretKey') ?? '');
    if (!outcome.ok) {
      throttle.failed(address(req));
      logger.warn({ reason: outcome.reason, from: address(req) }, 'console sign-in refused');
      const message = outcome.reason === 'not-admin' ? 'This user is not an administrator: the console is for admins only.' : 'Wrong access key or secret key.';
      html(res, outcome.reason === 'not-admin' ? 403 : 401, { title: 'Sign in', path: '/login', body: loginBody(message) });
      return;
    }
    throttle.succeeded(address(req));
    sessions.end(cookieValue(req, cookieName));
    const { token } = sessions.create(outcome.user.accessKey);
    logger.info({ user: outcome.user.accessKey, from: address(req) }, 'console sign-in');
    redirect(res, '/', { 'set-cookie': cookie(token, Math.floor(config.console.sessionTtlMs / 1000)) });
  }

  /** An action's form: same origin and the session's token, or nothing happens. */
  async function actionForm(req: IncomingMessage, session: Session): Promise<URLSearchParams> {
    if (!fromOurPages(req)) throw new RequestRefused(403, 'cross-site request refused');
    const form = await readForm(req);
    if (!sameSecret(form.get('csrf') ?? '', session.csrf)) throw new RequestRefused(403, 'the form is stale or forged (no valid CSRF token): reload the page');
    return form;
  }

  const backTo = (form: URLSearchParams): string => {
    const back = form.get('back') ?? '/';
    return PAGES.some((p) => p.path === back) ? back : '/';
  };

  async function pageBody(path: PagePath, session: Session): Promise<Html> {
    switch (path) {
      case '/':
        return overviewBody({ inv: await figures.inventory(), backlog: await figures.repairBacklog(), hot: await figures.hotTier(), scrub: figures.lastScrub(), samples: sampler.samples(), jobs: jobs.list(), csrf: session.csrf });
      case '/nodes':
        return nodesBody(await figures.nodes());
      case '/tiers': {
        const t = sampler.latestTotals;
        return tiersBody({
          hot: await figures.hotTier(),
          samples: sampler.samples(),
          totals: t ? { hotHits: t.hotHits, hotMisses: t.hotMisses, promotions: t.promotions, evictions: t.evictions } : undefined,
          jobs: jobs.list(),
          csrf: session.csrf,
          buckets: (await g.meta.listBuckets()).map((b) => b.name),
        });
      }
      case '/buckets': {
        const owners = Object.fromEntries((await g.meta.listBuckets()).map((b) => [b.name, b.owner]));
        return bucketsBody(await figures.inventory(), config, owners);
      }
      case '/requests':
        await sampler.tick();
        return requestsBody(sampler.samples(), sampler.latestTotals?.requests);
      case '/cost':
        return costBody(await figures.cost());
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://console');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (method === 'GET' && path === '/assets/console.css') return send(res, 200, 'text/css; charset=utf-8', CONSOLE_CSS, { 'cache-control': 'max-age=300' });
    if (method === 'GET' && path === '/assets/console.js') return send(res, 200, 'text/javascript; charset=utf-8', CONSOLE_JS, { 'cache-control': 'max-age=300' });
    if (method === 'GET' && path === '/assets/icon.svg') return send(res, 200, 'image/svg+xml', CONSOLE_ICON, { 'cache-control': 'max-age=3600' });
    const token = cookieValue(req, cookieName);
    const session = sessions.get(token);
    if (path === '/login') {
      if (method === 'POST') return signInPost(req, res);
      if (method !== 'GET' && method !== 'HEAD') throw new RequestRefused(405, 'method not allowed');
      if (session) return redirect(res, '/');
      return html(res, 200, { title: 'Sign in', path: '/login', body: loginBody() });
    }
    // Nothing but the sign-in page without an admin's session (a forged or expired cookie is no session).
    if (!session) {
      if (path.startsWith('/api/')) return send(res, 401, 'application/json', JSON.stringify({ error: 'sign in first' }));
      if (method !== 'GET' && method !== 'HEAD') throw new RequestRefused(403, 'sign in first');
      return redirect(res, '/login', token !== undefined ? { 'set-cookie': cookie('', 0) } : {});
    }
    if (method === 'POST') {
      const form = await actionForm(req, session);
      if (path === '/logout') {
        sessions.end(token);
        logger.info({ user: session.accessKey }, 'console sign-out');
        return redirect(res, '/login', { 'set-cookie': cookie('', 0) });
      }
      let started: ReturnType<ConsoleJobs['start']>;
      if (path === '/actions/maintenance') {
        const kind = form.get('kind');
        if (kind !== 'scrub' && kind !== 'repair') throw new RequestRefused(400, 'kind must be scrub or repair');
        started = jobs.start(kind, undefined, session.accessKey);
      } else if (path === '/actions/tiering') {
        const action = form.get('action') as TieringAction | null;
        if (action !== 'warm' && action !== 'evict' && action !== 'pin' && action !== 'unpin') throw new RequestRefused(400, 'action must be warm, evict, pin or unpin');
        const bucket = form.get('bucket') ?? '';
        if (bucket === '' || !(await g.meta.getBucket(bucket))) throw new RequestRefused(400, `no bucket ${JSON.stringify(bucket)}`);
        started = jobs.start(action, { bucket, prefix: form.get('prefix') ?? '' }, session.accessKey);
      } else {
        throw new RequestRefused(404, 'no such action');
      }
      flashes.set(session, typeof started === 'string' ? { kind: 'error', text: started } : { kind: 'ok', text: `Started ${started.kind}${started.target ? ` of ${started.target}` : ''} (job ${started.id}).` });
      return redirect(res, `${backTo(form)}#jobs`);
    }
    if (method !== 'GET' && method !== 'HEAD') throw new RequestRefused(405, 'method not allowed');
    if (path === '/api/jobs') return send(res, 200, 'application/json', JSON.stringify(jobs.list()));
    const known = PAGES.find((p) => p.path === path);
    if (!known) return html(res, 404, { title: 'Not found', path: '/', session: { accessKey: session.accessKey, csrf: session.csrf }, body: loginBodyless('No such page.') });
    const flash = flashes.get(session);
    flashes.delete(session);
    return html(res, 200, { title: known.title, path: known.path, session: { accessKey: session.accessKey, csrf: session.csrf }, body: await pageBody(known.path, session), ...(flash ? { flash } : {}) });
  }

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      const refused = err instanceof RequestRefused;
      if (!refused) logger.error({ err: err instanceof Error ? err.message : String(err), path: req.url?.split('?')[0] }, 'console request failed');
      if (res.headersSent) return void res.destroy();
      const status = refused ? err.status : 500;
      const text = refused ? err.message : 'internal error (see the gateway log)';
      send(res, status, 'text/html; charset=utf-8', page({ title: status === 403 ? 'Refused' : 'Error', path: '/login', body: loginBodyless(text) }));
      // The rest of a refused body is not read: close instead of draining it.
      if (!req.complete) res.once('finish', () => req.socket.destroy());
    });
  };
  const server: Server = tls ? createHttpsServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, listener) : createHttpServer(listener);
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.console.port, config.console.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  return {
    url: `${tls ? 'https' : 'http'}://${host}:${addr.port}`,
    close: async () => {
      sampler.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function loginBodyless(text: string): Html {
  return h`<p class="flash error" role="alert">${text}</p><p><a href="/">Back to the console</a></p>`;
}
