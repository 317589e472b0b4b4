/**
 * Child process that hosts the fault proxies; the chaos runner drives it over IPC:
 *   { op: 'start', proxies: [{ name, upstreamPort, listenPort }] } -> { op: 'started', ports: { name: port } }
 *   { op: 'mode', name, mode, delayMs? }                            -> { op: 'ok', id }
 *   { op: 'stats' }                                                 -> { op: 'stats', stats }
 */
import { FaultProxy } from './proxy.mjs';

const proxies = new Map();

process.on('message', async (msg) => {
  try {
    if (msg.op === 'start') {
      const ports = {};
      for (const p of msg.proxies) {
        const proxy = new FaultProxy(p);
        ports[p.name] = await proxy.listen();
        proxies.set(p.name, proxy);
      }
      process.send({ op: 'started', id: msg.id, ports });
    } else if (msg.op === 'mode') {
      const proxy = proxies.get(msg.name);
      if (!proxy) throw new Error(`no proxy ${msg.name}`);
      proxy.setMode(msg.mode, msg.delayMs);
      process.send({ op: 'ok', id: msg.id });
    } else if (msg.op === 'stats') {
      const stats = {};
      for (const [name, p] of proxies) stats[name] = p.stats;
      process.send({ op: 'stats', id: msg.id, stats });
    } else if (msg.op === 'close') {
      await Promise.all([...proxies.values()].map((p) => p.close()));
      process.send({ op: 'ok', id: msg.id });
      process.exit(0);
    }
  } catch (err) {
    process.send({ op: 'error', id: msg.id, message: err.message });
  }
});
process.on('disconnect', () => process.exit(0));
