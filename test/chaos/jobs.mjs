/**
 * Background jobs across gateways, from their logs: every "background step" line (job, holder, startedAt, endedAt;
 * written by LeasedJob when a step ends) of every gateway. A job ran when some gateway logged a step of it; two
 * steps of one job overlap when their run times intersect and their holders differ. A gateway killed mid-step
 * logs nothing for that step: it was dead before another holder could take the lease (lease time 15 s).
 */
import { existsSync, readFileSync } from 'node:fs';

export const CLUSTER_JOBS = ['gc', 'repair-sweep', 'hot-maintenance'];

export function backgroundJobReport(gatewayCount, logFile) {
  const steps = [];
  for (let i = 0; i < gatewayCount; i++) {
    const file = logFile(i);
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.startsWith('{') || !line.includes('"background step"')) continue;
      try {
        const e = JSON.parse(line);
        if (e.msg === 'background step') steps.push({ job: e.job, holder: e.holder, startedAt: e.startedAt, endedAt: e.endedAt });
      } catch {
        // A line torn by a SIGKILL.
      }
    }
  }
  const counts = {};
  const holders = {};
  for (const s of steps) {
    counts[s.job] = (counts[s.job] ?? 0) + 1;
    (holders[s.job] ??= new Set()).add(s.holder);
  }
  const overlaps = [];
  for (const job of Object.keys(counts)) {
    const list = steps.filter((s) => s.job === job).sort((a, b) => a.startedAt - b.startedAt);
    let latest;
    for (const s of list) {
      if (latest && s.startedAt < latest.endedAt && s.holder !== latest.holder) overlaps.push(`${job}: ${latest.holder} [${latest.startedAt}, ${latest.endedAt}] and ${s.holder} [${s.startedAt}, ${s.endedAt}]`);
      if (!latest || s.endedAt > latest.endedAt) latest = s;
    }
  }
  return {
    steps: counts,
    holders: Object.fromEntries(Object.entries(holders).map(([job, set]) => [job, set.size])),
    missing: CLUSTER_JOBS.filter((job) => !counts[job]),
    overlaps,
  };
}
