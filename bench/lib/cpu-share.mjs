// Where a trial's CPU went, from /proc: machine-wide busy time and CPU seconds by kind of process (gateway,
// storage nodes, the load client, PostgreSQL, everything else). Linux only; elsewhere it reports nothing.
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

const TICK = 100; // USER_HZ on Linux

function kindOf(cmdline) {
  if (/main\.js serve\b/.test(cmdline) || /\bserve --config\b/.test(cmdline)) return 'gateway';
  if (/main\.js node\b/.test(cmdline)) return 'nodes';
  if (/postgres/.test(cmdline)) return 'postgres';
  if (/bench\/|load-worker|harness/.test(cmdline)) return 'client';
  return 'other';
}

function processTicks() {
  const byPid = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ');
      byPid.set(name, { ticks, kind: kindOf(cmdline) });
    } catch {
      // gone meanwhile
    }
  }
  return byPid;
}

function machineTicks() {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  const total = cpu.reduce((a, b) => a + b, 0);
  return { idle, total };
}

/** Starts measuring; the returned function gives { busyFraction, cpuSeconds: { kind: s } } since the start. */
export function cpuShare() {
  let before;
  let m0;
  try {
    before = processTicks();
    m0 = machineTicks();
  } catch {
    return () => undefined;
  }
  return () => {
    const after = processTicks();
    const m1 = machineTicks();
    const cpuSeconds = {};
    for (const [pid, p] of after) {
      const d = p.ticks - (before.get(pid)?.ticks ?? 0);
      if (d > 0) cpuSeconds[p.kind] = (cpuSeconds[p.kind] ?? 0) + d / TICK;
    }
    const total = m1.total - m0.total;
    const busyFraction = total > 0 ? 1 - (m1.idle - m0.idle) / total : 0;
    // Processes that ended within the window (the load client exits as the trial ends) and kernel work no process
    // is charged for (loopback networking in softirq): the machine's busy time that the live processes do not explain.
    const seconds = total / TICK / os.cpus().length;
    const explained = Object.values(cpuSeconds).reduce((a, b) => a + b, 0);
    cpuSeconds['client+kernel'] = Math.max(0, busyFraction * os.cpus().length * seconds - explained);
    return { busyFraction, cpuSeconds };
  };
}
