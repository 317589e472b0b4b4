/**
 * Fault-injecting HTTP proxy, one per storage node (and one in front of the hot tier). It runs in a child process of
 * the chaos runner (see proxy-host.mjs) so that byte flipping and delays do not compete with the workload's event loop.
 *
 * Modes:
 *   pass     forward untouched
 *   slow     hold every response `delayMs` before forwarding it (a slow disk or a congested link)
 *   corrupt  flip bytes in the bodies of successful GET responses (bit rot, a lying node)
 *   hang     forward the headers and part of the body, then stop forwarding (the socket stays open)
 *   full     answer PUTs with 507 as a full node does (used only when the runner cannot mount a tmpfs)
 *   refuse   drop every connection at once (a stopped service)
 *
 * Switching mode destroys every connection that a fault had stalled, so a stalled request never outlives its fault.
 */
import http from 'node:http';

const FULL_BODY = JSON.stringify({ error: 'full', message: 'no space left on device (injected)' });

export class FaultProxy {
  /** @param {{ name: string, upstreamPort: number, listenPort?: number }} opts */
  constructor(opts) {
    this.name = opts.name;
    this.upstreamPort = opts.upstreamPort;
    this.listenPort = opts.listenPort ?? 0;
    this.mode = 'pass';
    this.delayMs = 3000;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    /** Sockets of requests a fault is holding (hang/slow), destroyed when the fault clears. */
    this.stalled = new Set();
    this.stats = { requests: 0, flipped: 0, hung: 0, delayed: 0, refused: 0, full: 0 };
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 2000;
    this.server.on('connection', (socket) => {
      if (this.mode === 'refuse') {
        this.stats.refused++;
        socket.destroy();
      }
    });
  }

  listen() {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.listenPort, '127.0.0.1', () => {
        this.port = this.server.address().port;
        resolve(this.port);
      });
    });
  }

  setMode(mode, delayMs) {
    this.mode = mode;
    if (delayMs !== undefined) this.delayMs = delayMs;
    if (mode === 'pass' || mode === 'refuse') {
      for (const s of this.stalled) s.destroy();
      this.stalled.clear();
    }
    if (mode === 'refuse') this.server.closeAllConnections();
  }

  handle(req, res) {
    this.stats.requests++;
    const mode = this.mode;
    if (mode === 'refuse') {
      this.stats.refused++;
      req.socket.destroy();
      return;
    }
    if (mode === 'full' && req.method === 'PUT') {
      this.stats.full++;
      req.resume();
      req.on('end', () => {
        res.writeHead(507, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(FULL_BODY) });
        res.end(FULL_BODY);
      });
      return;
    }
    const upstream = http.request(
      { host: '127.0.0.1', port: this.upstreamPort, method: req.method, path: req.url, headers: req.headers, agent: this.agent },
      (up) => this.respond(req, res, up, mode),
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  respond(req, res, up, mode) {
    const isBodyRead = req.method === 'GET' && (up.statusCode === 200 || up.statusCode === 206);
    const forward = () => {
      if (res.destroyed) {
        up.destroy();
        return;
      }
      res.writeHead(up.statusCode ?? 502, up.headers);
      if (mode === 'hang' && isBodyRead) {
        this.stats.hung++;
        this.stalled.add(res.socket);
        let sent = 0;
        const limit = Math.max(1, Math.floor(Number(up.headers['content-length'] ?? 2) / 2));
        up.on('data', (chunk) => {
          if (sent >= limit) return; // keep draining upstream, forward nothing more
          const piece = chunk.subarray(0, limit - sent);
          sent += piece.length;
          res.write(piece);
        });
        return;
      }
      if (mode === 'corrupt' && isBodyRead) {
        up.on('data', (chunk) => {
          const copy = Buffer.from(chunk);
          // One flipped byte per chunk: enough to break every AEAD block it lands in.
          const at = Math.floor(Math.random() * copy.length);
          if (copy.length > 0) {
            copy[at] ^= 0x5a;
            this.stats.flipped++;
          }
          if (!res.write(copy)) up.pause();
        });
        res.on('drain', () => up.resume());
        up.on('end', () => res.end());
        up.on('error', () => res.destroy());
        return;
      }
      up.pipe(res);
      up.on('error', () => res.destroy());
    };
    if (mode === 'slow') {
      this.stats.delayed++;
      this.stalled.add(res.socket);
      const timer = setTimeout(() => {
        this.stalled.delete(res.socket);
        forward();
      }, this.delayMs);
      res.on('close', () => clearTimeout(timer));
      return;
    }
    forward();
  }

  close() {
    for (const s of this.stalled) s.destroy();
    this.server.closeAllConnections();
    this.agent.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
