import { SERVICE, TERMINATOR } from './signing.js';

export interface Credential {
  accessKey: string;
  /** YYYYMMDD */
  date: string;
  region: string;
}

/** Why a credential string was rejected; the caller words it for the header or the query form. */
export type CredentialProblem =
  | { kind: 'malformed' }
  | { kind: 'region'; region: string }
  | { kind: 'service'; service: string }
  | { kind: 'terminator'; terminator: string };

export function parseCredential(value: string, expectedRegion: string): Credential | CredentialProblem {
  const parts = value.split('/');
  if (parts.length < 5) return { kind: 'malformed' };
  const [date, region, service, terminator] = parts.slice(-4) as [string, string, string, string];
  // Access key ids never contain '/', but joining keeps any unusual id intact rather than misreading the scope.
  const accessKey = parts.slice(0, -4).join('/');
  if (accessKey === '' || !/^\d{8}$/.test(date)) return { kind: 'malformed' };
  if (service !== SERVICE) return { kind: 'service', service };
  if (terminator !== TERMINATOR) return { kind: 'terminator', terminator };
  if (region !== expectedRegion) return { kind: 'region', region };
  return { accessKey, date, region };
}

export function isCredential(value: Credential | CredentialProblem): value is Credential {
  return !('kind' in value);
}

export function describeCredentialProblem(problem: CredentialProblem, expectedRegion: string): { detail: string; fields: Record<string, string> } {
  switch (problem.kind) {
    case 'malformed':
      return { detail: 'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".', fields: {} };
    case 'region':
      return { detail: `the region '${problem.region}' is wrong; expecting '${expectedRegion}'`, fields: { Region: expectedRegion } };
    case 'service':
      return { detail: `incorrect service "${problem.service}". This endpoint belongs to "${SERVICE}".`, fields: {} };
    case 'terminator':
      return { detail: `incorrect terminal "${problem.terminator}". This endpoint uses "${TERMINATOR}".`, fields: {} };
  }
}

const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** Parses the ISO 8601 basic format SigV4 uses (20130524T000000Z); undefined when malformed or not a real date. */
export function parseAmzDate(value: string): Date | undefined {
  const m = AMZ_DATE.exec(value);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const time = Date.UTC(year, month - 1, day, hour, minute, second);
  const date = new Date(time);
  // Date.UTC rolls 20130231 over into March; a real timestamp must round-trip.
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) return undefined;
  return date;
}

export function formatAmzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}
