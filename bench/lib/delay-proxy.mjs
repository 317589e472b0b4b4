// A TCP proxy that delays every byte by a fixed time in each direction, as a remote S3 region's round trip does
// (bench rows with `@20ms`). Throughput is not limited: bytes in flight are only delayed, with backpressure once a
// direction holds more than HIGH_WATER bytes not yet forwarded.
import net from 'node:net';

const HIGH_WATER = 16 << 20;

/** Forward `from` to `to`, each chunk `delayMs` after it arrived, in order. */
function delayed(from, to, delayMs) {
  const queue = [];
  let queued = 0;
  let timer = null;
  const flush = () => {
    timer = null;
    const now = Date.now();
    while (queue.length > 0 && queue[0].at <= now) {
      const { chunk } = queue.shift();
      queued -= chunk.length;
      to.write(chunk);
    }
    if (queued < HIGH_WATER && from.isPaused()) from.resume();
    if (queue.length > 0) timer = setTimeout(flush, queue[0].at - now);
    else if (from.readableEnded) to.end();
  };
  from.on('data', (chunk) => {
    queue.push({ chunk, at: Date.now() + delayMs });
    queued += chunk.length;
    if (queued >= HIGH_WATER) from.pause();
    timer ??= setTimeout(flush, delayMs);
  });
  from.on('end', () => {
    if (queue.length === 0 && timer === null) to.end();
  });
}

/** Starts a proxy on 127.0.0.1 to `target` (host:port); resolves to { endpoint, close }. */
export async function startDelayProxy(targetUrl, delayMs) {
  const target = new URL(targetUrl);
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    delayed(client, upstream, delayMs);
    delayed(upstream, client, delayMs);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
