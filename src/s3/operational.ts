import { timingSafeEqual } from 'node:crypto';
import { header, type RequestContext } from './context.js';
import { hostName } from './routing.js';

const PATHS = new Set(['/health', '/ready', '/metrics']);

/**
 * /health, /ready and /metrics live outside the S3 namespace only for GETs without an S3 signature (no SigV4/V2
 * Authorization header, no X-Amz-Signature query; a Bearer token is fine): a signed request (or a
 * virtual-hosted one) to /health is an S3 request for the bucket "health", which is a valid bucket name.
 * Returns true when the request was answered here.
 */
export function serveOperational(ctx: RequestContext, rawPath: string): boolean {
  if (ctx.method !== 'GET' || !PATHS.has(rawPath)) return false;
  // A Bearer token (for /metrics) is not an S3 signature; anything else in Authorization makes this an S3 request.
  const authorization = header(ctx, 'authorization');
  if ((authorization !== undefined && !/^Bearer\s/i.test(authorization)) || ctx.query.has('X-Amz-Signature') || ctx.query.has('Signature')) return false;
  const base = ctx.deps.config.server.baseDomain?.toLowerCase();
  if (base && hostName(ctx.host).endsWith(`.${base}`)) return false;
  void answer(ctx, rawPath).catch((err: unknown) => {
    ctx.deps.logger.error({ reqId: ctx.requestId, err: err instanceof Error ? err.message : String(err) }, 'operational endpoint failed');
    if (!ctx.res.headersSent) {
      ctx.res.statusCode = 500;
      ctx.res.end();
    } else ctx.res.destroy();
  });
  return true;
}

function plain(ctx: RequestContext, status: number, contentType: string, body: string): void {
  ctx.res.statusCode = status;
  ctx.res.setHeader('content-type', contentType);
  ctx.res.setHeader('content-length', Buffer.byteLength(body));
  ctx.res.end(body);
}

function tokenMatches(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function answer(ctx: RequestContext, path: string): Promise<void> {
  const { service, config, metrics } = ctx.deps;
  if (path === '/health') return plain(ctx, 200, 'text/plain; charset=utf-8', 'ok');
  if (path === '/ready') {
    let result: { ok: boolean; checks: Record<string, string> };
    try {
      result = await service.readiness();
    } catch (err) {
      result = { ok: false, checks: { service: err instanceof Error ? err.message : 'readiness check failed' } };
    }
    return plain(ctx, result.ok ? 200 : 503, 'application/json', JSON.stringify(result));
  }
  const token = config.server.metricsToken;
  if (token !== undefined) {
    const given = /^Bearer\s+(.+)$/i.exec(header(ctx, 'authorization') ?? '')?.[1];
    if (given === undefined || !tokenMatches(given, token)) {
      ctx.res.setHeader('www-authenticate', 'Bearer');
      return plain(ctx, 401, 'text/plain; charset=utf-8', 'unauthorized');
    }
  }
  return plain(ctx, 200, metrics.registry.contentType, await metrics.registry.metrics());
}
