/**
 * Fault schedule: one fault at a time (so a 4+2 cluster with write quorum 5 stays writable and every fault's effect
 * is attributable), cycling through every kind until the deadline. Each fault is injected, held, and cleared; every
 * wait is bounded.
 */
import { sleep } from './cluster.mjs';

export class FaultInjector {
  /** @param {{ cluster: import('./cluster.mjs').Cluster, workload: import('./workload.mjs').Workload, opLog: import('./workload.mjs').OpLog, say: (s: string) => void }} deps */
  constructor(deps) {
    Object.assign(this, deps);
    this.injected = {};
    this.skipped = {};
    this.stopped = false;
  }

  kinds() {
    const kinds = ['node-kill', 'node-slow', 'node-corrupt', 'node-full', 'node-hang', 'gateway-kill-write', 'gateway-kill-complete'];
    if (this.cluster.rgw) kinds.splice(5, 0, 'hot-stop');
    // Several gateways: also kill one while it stores a part of an upload spread over all of them; nodes restart
    // back to back right before a PUT burst (the half-open breaker case).
    if (this.cluster.gatewayCount > 1) kinds.splice(1, 0, 'gateway-kill-part');
    // A database that restarts (PostgreSQL): requests meanwhile get 503 + Retry-After, gateways recover on their own.
    if (process.env.CHAOS_DB_RESTART_CMD) kinds.splice(3, 0, 'db-restart');
    return kinds;
  }

  count(kind, map = this.injected) {
    map[kind] = (map[kind] ?? 0) + 1;
  }

  async run(deadline) {
    const kinds = this.kinds();
    let i = 0;
    await sleep(3_000);
    while (Date.now() < deadline - 8_000 && !this.stopped) {
      const kind = kinds[i % kinds.length];
      // Rotate the target so every node gets every fault over a long run.
      const node = this.cluster.nodes[(i * 5 + Math.floor(i / kinds.length)) % 6];
      i++;
      const t0 = Date.now();
      try {
        await this.inject(kind, node);
      } catch (err) {
        this.say(`fault ${kind} failed to inject: ${err.message}`);
        this.count(kind, this.skipped);
      }
      this.say(`fault ${kind}${kind.startsWith('node') && kind !== 'node-full' ? ` on ${node.name}` : ''} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      await sleep(1_500);
    }
  }

  async inject(kind, node) {
    const hold = 6_000;
    switch (kind) {
      case 'node-kill':
        await this.cluster.killNode(node);
        this.count(kind);
        await sleep(4_000);
        await this.cluster.startNode(node);
        return;
      case 'node-slow':
        await this.cluster.setProxyMode(node.name, 'slow', 3_000);
        this.count(kind);
        await sleep(hold);
        await this.cluster.setProxyMode(node.name, 'pass');
        return;
      case 'node-corrupt':
        await this.cluster.setProxyMode(node.name, 'corrupt');
        this.count(kind);
        await sleep(hold);
        await this.cluster.setProxyMode(node.name, 'pass');
        return;
      case 'node-hang':
        await this.cluster.setProxyMode(node.name, 'hang');
        this.count(kind);
        await sleep(hold + 2_000);
        await this.cluster.setProxyMode(node.name, 'pass');
        return;
      case 'node-full': {
        const full = this.cluster.nodes[5];
        if (full.tmpfs) {
          const left = await this.cluster.fillDisk(full);
          this.say(`  ${full.name} tmpfs filled (${left} bytes left)`);
          this.count('node-full(ENOSPC)');
          await sleep(hold);
          this.cluster.unfillDisk(full);
        } else {
          await this.cluster.setProxyMode(full.name, 'full');
          this.count('node-full(507 proxy)');
          await sleep(hold);
          await this.cluster.setProxyMode(full.name, 'pass');
        }
        return;
      }
      case 'db-restart': {
        const { execSync } = await import('node:child_process');
        execSync(process.env.CHAOS_DB_RESTART_CMD, { stdio: 'ignore', timeout: 60_000 });
        this.count(kind);
        await sleep(hold);
        return;
      }
      case 'hot-stop':
        await this.cluster.setProxyMode('hot', 'refuse');
        this.count(kind);
        await sleep(hold);
        await this.cluster.setProxyMode('hot', 'pass');
        return;
      case 'gateway-kill-write':
      case 'gateway-kill-part':
      case 'gateway-kill-complete': {
        const target = kind === 'gateway-kill-write' ? 'put' : kind === 'gateway-kill-part' ? 'upload' : 'complete';
        const flight = await this.workload.waitForInflight(target, target === 'put' ? 150 : 0, 25_000);
        if (!flight) {
          this.count(kind, this.skipped);
          this.say(`  no ${target} in flight within 25 s: ${kind} skipped`);
          return;
        }
        if (target === 'complete') await sleep(Math.floor(Math.random() * 30));
        const gateway = flight.gateway ?? 0;
        this.opLog.gatewayKills.push({ t: performance.now(), gateway });
        await this.cluster.killGateway(gateway);
        this.count(kind);
        this.say(`  gateway ${gateway + 1} SIGKILLed during ${target} of ${flight.key} (${flight.size} bytes)`);
        await sleep(500);
        await this.cluster.startGateway(gateway);
        return;
      }
      default:
        throw new Error(`unknown fault ${kind}`);
    }
  }
}
