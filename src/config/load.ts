import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './errors.js';
import { parseBytes, parseDuration } from './units.js';
import { shardSize } from '../model/layout.js';
import { makePrivateDir, PRIVATE_FILE_MODE } from '../util/private-files.js';
import type {
  ColdConfig,
  HotConfig,
  LocalCacheConfig,
  PricesConfig,
  ConsoleConfig,
  MetaConfig,
  NodeConfig,
  PostgresMetaConfig,
  Permission,
  S3ConnectionConfig,
  ServerConfig,
  TesseraConfig,
  UserConfig,
} from './types.js';

type Raw = Record<string, unknown>;

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Typed access to one YAML mapping; every error names the full key path. */
class Section {
  private readonly known = new Set<string>();
  constructor(
    private readonly raw: Raw,
    readonly path: string,
  ) {}

  private key(name: string): string {
    return this.path ? `${this.path}.${name}` : name;
  }
  private get(name: string): unknown {
    this.known.add(name);
    return this.raw[name];
  }
  has(name: string): boolean {
    return this.raw[name] !== undefined && this.raw[name] !== null;
  }
  section(name: string): Section {
    const v = this.get(name);
    if (v === undefined || v === null) return new Section({}, this.key(name));
    if (!isObject(v)) throw new ConfigError(this.key(name), 'must be a mapping');
    return new Section(v, this.key(name));
  }
  list(name: string): Section[] | undefined {
    const v = this.get(name);
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) throw new ConfigError(this.key(name), 'must be a list');
    return v.map((item, i) => {
      if (!isObject(item)) throw new ConfigError(`${this.key(name)}[${i}]`, 'must be a mapping');
      return new Section(item, `${this.key(name)}[${i}]`);
    });
  }
  map(name: string): Record<string, unknown> {
    const v = this.get(name);
    if (v === undefined || v === null) return {};
    if (!isObject(v)) throw new ConfigError(this.key(name), 'must be a mapping');
    return v;
  }
  str(name: string, fallback?: string): string {
    const v = this.get(name) ?? fallback;
    if (typeof v === 'number') return String(v);
    if (typeof v !== 'string' || v === '') throw new ConfigError(this.key(name), v === undefined ? 'is required' : 'must be a non-empty string');
    return v;
  }
  optStr(name: string): string | undefined {
    return this.has(name) ? this.str(name) : undefined;
  }
  int(name: string, fallback: number, min: number, max: number): number {
    const v = this.get(name) ?? fallback;
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw new ConfigError(this.key(name), `must be an integer from ${min} to ${max}`);
    return n;
  }
  /** A non-negative decimal (prices). */
  decimal(name: string, fallback: number): number {
    const v = this.get(name) ?? fallback;
    const n = typeof v === 'string' && /^\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new ConfigError(this.key(name), 'must be a number of at least 0');
    return n;
  }
  bytes(name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.get(name) ?? fallback;
    const n = parseBytes(v);
    if (n === undefined || n < min || n > max) throw new ConfigError(this.key(name), `must be a byte size (e.g. 64MiB) from ${min} to ${max}`);
    return n;
  }
  duration(name: string, fallback: number): number {
    const v = this.get(name) ?? fallback;
    const n = parseDuration(v);
    if (n === undefined) throw new ConfigError(this.key(name), 'must be a duration (e.g. 500ms, 2s, 5m)');
    return n;
  }
  bool(name: string, fallback: boolean): boolean {
    const v = this.get(name) ?? fallback;
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw new ConfigError(this.key(name), 'must be true or false');
  }
  oneOf<T extends string>(name: string, fallback: T, values: readonly T[]): T {
    const v = this.get(name) ?? fallback;
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) throw new ConfigError(this.key(name), `must be one of ${values.join(', ')}`);
    return v as T;
  }
  /** Unknown keys are mistakes (typos would otherwise silently fall back to defaults). */
  rejectUnknown(): void {
    for (const k of Object.keys(this.raw)) {
      if (!this.known.has(k)) throw new ConfigError(this.key(k), 'is not a known setting');
    }
  }
}

export interface LoadOptions {
  /** YAML file; absent = embedded default. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Applied over the file (tests use this), before env overrides. */
  overrides?: Raw;
}

export interface LoadedConfig {
  config: TesseraConfig;
  /**
   * Files of the embedded default that do not exist yet. Loading never creates them: only `tessera serve` does
   * (provisionSecrets). Without a master key config.keys.masterKeys is empty; without credentials, users is.
   */
  missing: { masterKeyFile?: string; credentialsFile?: string };
  /** Set when provisionSecrets generated the admin secret: the CLI prints it once at start. */
  generatedCredentials?: { accessKey: string; secretKey: string; file: string };
}

/** The access key of the embedded default's generated admin user. */
export const DEFAULT_ADMIN_ACCESS_KEY = 'tessera-admin';

function deepMerge(base: Raw, over: Raw): Raw {
  const out: Raw = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isObject(b) && isObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

/** Environment variables win over the file: the container/12-factor way to set the few things that differ per host. */
function envOverrides(env: NodeJS.ProcessEnv): Raw {
  const o: Raw = {};
  const server: Raw = {};
  if (env.TESSERA_DATA_DIR) o.dataDir = env.TESSERA_DATA_DIR;
  if (env.TESSERA_PORT) server.port = env.TESSERA_PORT;
  if (env.TESSERA_HOST) server.host = env.TESSERA_HOST;
  if (env.TESSERA_CONSOLE_PORT) o.console = { port: env.TESSERA_CONSOLE_PORT };
  if (Object.keys(server).length) o.server = server;
  if (env.TESSERA_LOG_LEVEL) o.log = { level: env.TESSERA_LOG_LEVEL };
  if (env.TESSERA_HOT_BUDGET) o.hot = { budget: env.TESSERA_HOT_BUDGET };
  return o;
}

function readFileSecret(file: string, key: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(key, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

function decodeMasterKey(text: string, key: string): Buffer {
  const trimmed = text.trim();
  const buf = /^[0-9a-f]{64}$/i.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (buf.length !== 32) throw new ConfigError(key, 'a master key must be 32 bytes (64 hex characters or base64)');
  return buf;
}

function s3Connection(s: Section, defaults: { prefix: string }): S3ConnectionConfig {
  const creds = s.section('credentials');
  const accessKeyId = creds.optStr('accessKeyId');
  const secretAccessKey = creds.optStr('secretAccessKey');
  const sessionToken = creds.optStr('sessionToken');
  creds.rejectUnknown();
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) throw new ConfigError(creds.path, 'set both accessKeyId and secretAccessKey, or neither (SDK default chain)');
  const endpoint = s.optStr('endpoint');
  const cfg: S3ConnectionConfig = {
    ...(endpoint !== undefined ? { endpoint } : {}),
    region: s.str('region', 'us-east-1'),
    bucket: s.str('bucket'),
    prefix: s.has('prefix') ? String(s.str('prefix')) : defaults.prefix,
    forcePathStyle: s.bool('forcePathStyle', endpoint !== undefined),
    timeoutMs: s.duration('timeout', 30_000),
    maxAttempts: s.int('maxAttempts', 5, 1, 20),
    ...(accessKeyId !== undefined && secretAccessKey !== undefined
      ? { credentials: { accessKeyId, secretAccessKey, ...(sessionToken !== undefined ? { sessionToken } : {}) } }
      : {}),
  };
  return cfg;
}

function parseNode(s: Section, dataDir: string): NodeConfig {
  const name = s.str('name');
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new ConfigError(`${s.path}.name`, 'must be 1-64 of A-Z a-z 0-9 . _ -');
  const kind = s.oneOf('kind', 'fs', ['fs', 'http', 's3', 'iagon'] as const);
  const weight = s.int('weight', 1, 1, 1_000_000);
  let node: NodeConfig;
  switch (kind) {
    case 'fs':
      node = { name, kind, weight, path: path.resolve(dataDir, s.str('path', path.join('nodes', name))) };
      break;
    case 'http': {
      const secretFile = s.optStr('secretFile');
      const secret = secretFile !== undefined ? readFileSecret(secretFile, `${s.path}.secretFile`) : s.str('secret');
      const caFile = s.optStr('caFile');
      node = { name, kind, weight, url: s.str('url'), secret, timeoutMs: s.duration('timeout', 10_000), ...(caFile !== undefined ? { caFile } : {}) };
      break;
    }
    case 's3':
      node = { name, kind, weight, ...s3Connection(s, { prefix: '' }) };
      break;
    case 'iagon': {
      const apiKey = s.optStr('apiKey');
      const token = s.optStr('token');
      if (apiKey === undefined && token === undefined) throw new ConfigError(`${s.path}.apiKey`, 'an Iagon node needs apiKey or token');
      const directoryId = s.optStr('directoryId');
      const password = s.optStr('password');
      node = {
        ...(password !== undefined ? { password } : {}),
        name,
        kind,
        weight,
        baseUrl: s.str('baseUrl', 'https://gw.iagon.com/api/v2'),
        ...(apiKey !== undefined ? { apiKey } : {}),
        ...(token !== undefined ? { token } : {}),
        ...(directoryId !== undefined ? { directoryId } : {}),
        directoryName: s.str('directoryName', `tessera-${name}`),
        timeoutMs: s.duration('timeout', 60_000),
        maxAttempts: s.int('maxAttempts', 5, 1, 20),
        maxFileBytes: s.bytes('maxFileBytes', 40_000_000, 1),
      };
      break;
    }
  }
  s.rejectUnknown();
  return node;
}

function parseUsers(root: Section, env: NodeJS.ProcessEnv, dataDir: string): { users: UserConfig[]; missingFile?: string } {
  const list = root.list('users');
  const users: UserConfig[] = (list ?? []).map((u) => {
    const secretFile = u.optStr('secretKeyFile');
    const user: UserConfig = {
      accessKey: u.str('accessKey'),
      secretKey: secretFile !== undefined ? readFileSecret(secretFile, `${u.path}.secretKeyFile`) : u.str('secretKey'),
      buckets: {},
    };
    const buckets = u.map('buckets');
    for (const [bucket, perm] of Object.entries(buckets)) {
      if (perm !== 'read' && perm !== 'write' && perm !== 'admin') throw new ConfigError(`${u.path}.buckets.${bucket}`, 'must be read, write or admin');
      user.buckets[bucket] = perm as Permission;
    }
    if (Object.keys(buckets).length === 0) user.buckets['*'] = 'admin';
    u.rejectUnknown();
    return user;
  });
  // The embedded default's admin user: env wins; otherwise a secret generated once and kept in the data dir.
  const envKey = env.TESSERA_ACCESS_KEY;
  const envSecret = env.TESSERA_SECRET_KEY;
  if (envKey !== undefined || envSecret !== undefined) {
    if (!envKey || !envSecret) throw new ConfigError('TESSERA_ACCESS_KEY', 'set both TESSERA_ACCESS_KEY and TESSERA_SECRET_KEY');
    const existing = users.find((u) => u.accessKey === envKey);
    if (existing) existing.secretKey = envSecret;
    else users.unshift({ accessKey: envKey, secretKey: envSecret, buckets: { '*': 'admin' } });
    return { users };
  }
  if (users.length > 0) return { users };
  const file = credentialsFile(dataDir);
  if (!existsSync(file)) return { users: [], missingFile: file };
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!isObject(parsed) || typeof parsed.accessKey !== 'string' || typeof parsed.secretKey !== 'string') throw new ConfigError('users', `${file} is not a credentials file`);
  return { users: [{ accessKey: parsed.accessKey, secretKey: parsed.secretKey, buckets: { '*': 'admin' } }] };
}

const credentialsFile = (dataDir: string): string => path.join(dataDir, 'credentials.json');
const masterKeyFile = (dataDir: string): string => path.join(dataDir, 'master.key');

function parseKeys(root: Section, env: NodeJS.ProcessEnv, dataDir: string): { keys: TesseraConfig['keys']; missingFile?: string } {
  const s = root.section('keys');
  const masterKeys: Array<{ id: string; key: Buffer }> = [];
  if (env.TESSERA_MASTER_KEY) masterKeys.push({ id: env.TESSERA_MASTER_KEY_ID ?? 'env', key: decodeMasterKey(env.TESSERA_MASTER_KEY, 'TESSERA_MASTER_KEY') });
  for (const k of s.list('masterKeys') ?? []) {
    const file = k.optStr('file');
    const text = file !== undefined ? readFileSecret(file, `${k.path}.file`) : k.str('key');
    masterKeys.push({ id: k.str('id'), key: decodeMasterKey(text, k.path) });
    k.rejectUnknown();
  }
  s.rejectUnknown();
  let missingFile: string | undefined;
  if (masterKeys.length === 0) {
    // Embedded default: a key file in the data dir. Losing it loses every object: the README says so.
    const file = masterKeyFile(dataDir);
    if (existsSync(file)) masterKeys.push({ id: 'local', key: decodeMasterKey(readFileSync(file, 'utf8'), 'keys (data dir master.key)') });
    else missingFile = file;
  }
  const ids = new Set<string>();
  for (const k of masterKeys) {
    if (ids.has(k.id)) throw new ConfigError('keys.masterKeys', `duplicate key id ${k.id}`);
    ids.add(k.id);
  }
  return { keys: { masterKeys }, ...(missingFile !== undefined ? { missingFile } : {}) };
}

function parseServer(s: Section): ServerConfig {
  const tls = s.section('tls');
  const certFile = tls.optStr('certFile');
  const keyFile = tls.optStr('keyFile');
  tls.rejectUnknown();
  if ((certFile === undefined) !== (keyFile === undefined)) throw new ConfigError('server.tls', 'set both certFile and keyFile');
  const baseDomain = s.optStr('baseDomain');
  const metricsToken = s.optStr('metricsToken');
  const maxConcurrentRequests = s.int('maxConcurrentRequests', 1024, 1, 1_000_000);
  const server: ServerConfig = {
    host: s.str('host', '127.0.0.1'),
    port: s.int('port', 9000, 0, 65535),
    region: s.str('region', 'us-east-1'),
    ...(baseDomain !== undefined ? { baseDomain } : {}),
    trustForwardedHeaders: s.bool('trustForwardedHeaders', false),
    ...(certFile !== undefined && keyFile !== undefined ? { tls: { certFile, keyFile } } : {}),
    maxConcurrentRequests,
    // Shares only matter for a large pool: a small one (a test, a tiny box) is not split below 64 / 128 requests.
    maxConcurrentRequestsPerKey: s.int('maxConcurrentRequestsPerKey', Math.min(maxConcurrentRequests, Math.max(64, Math.ceil(maxConcurrentRequests / 4))), 1, maxConcurrentRequests),
    maxConcurrentRequestsPerAddress: s.int(
      'maxConcurrentRequestsPerAddress',
      Math.min(maxConcurrentRequests, Math.max(128, Math.ceil(maxConcurrentRequests / 2))),
      1,
      maxConcurrentRequests,
    ),
    minBodyRate: s.bytes('minBodyRate', 1024, 0),
    bodyRateWindowMs: s.duration('bodyRateWindow', 20_000),
    headersTimeoutMs: s.duration('headersTimeout', 30_000),
    requestTimeoutMs: s.duration('requestTimeout', 120_000),
    maxSinglePutBytes: s.bytes('maxSinglePutSize', 5 * 2 ** 30, 1),
    ...(metricsToken !== undefined ? { metricsToken } : {}),
  };
  s.rejectUnknown();
  return server;
}

/**
 * Prices for `tessera cost`, per GiB-month. The defaults are examples in the range of public list prices, not quotes:
 * set your own.
 */
function parsePrices(s: Section, nodeNames: string[]): PricesConfig {
  const nodesSection = s.section('nodes');
  const perNode: Record<string, number> = {};
  const prices: PricesConfig = {
    currency: s.str('currency', 'USD'),
    nodePerGiBMonth: s.decimal('nodePerGiBMonth', 0.004),
    hotPerGiBMonth: s.decimal('hotPerGiBMonth', 0.023),
    localCachePerGiBMonth: s.decimal('localCachePerGiBMonth', 0),
    nodes: perNode,
  };
  for (const name of nodeNames) if (nodesSection.has(name)) prices.nodes[name] = nodesSection.decimal(name, prices.nodePerGiBMonth);
  nodesSection.rejectUnknown();
  s.rejectUnknown();
  return prices;
}

/**
 * The console is on by default in the embedded default (no config file) and wherever the file has a console section;
 * a file without one keeps the deployment as it was (no new listener appears on an upgrade).
 */
function parseConsole(s: Section, present: boolean, serverHost: string): ConsoleConfig {
  const c: ConsoleConfig = {
    enabled: s.bool('enabled', present),
    host: s.str('host', serverHost),
    port: s.int('port', 9001, 0, 65535),
    sessionTtlMs: s.duration('sessionTtl', 8 * 3600_000),
    sessionIdleMs: s.duration('sessionIdle', 30 * 60_000),
    sampleIntervalMs: s.duration('sampleInterval', 5_000),
  };
  if (c.sessionTtlMs < 1000 || c.sessionIdleMs < 1000) throw new ConfigError('console', 'sessionTtl and sessionIdle must be at least 1s');
  if (c.sampleIntervalMs < 100) throw new ConfigError('console.sampleInterval', 'must be at least 100ms');
  s.rejectUnknown();
  return c;
}

function parseHot(s: Section, dataDir: string): HotConfig {
  const driver = s.oneOf('driver', 'fs', ['fs', 's3'] as const);
  const fsSection = s.section('fs');
  const hot: HotConfig = {
    driver,
    budgetBytes: s.bytes('budget', 4 * 2 ** 30),
    promote: s.oneOf('promote', 'always', ['always', 'full-read', 'never'] as const),
    writeThrough: s.bool('writeThrough', false),
    encrypt: s.bool('encrypt', true),
    fs: { path: path.resolve(dataDir, fsSection.str('path', 'hot')) },
  };
  fsSection.rejectUnknown();
  if (driver === 's3' || s.has('s3')) {
    const s3 = s.section('s3');
    hot.s3 = s3Connection(s3, { prefix: 'tessera-hot/' });
    s3.rejectUnknown();
  }
  s.rejectUnknown();
  return hot;
}

function parseCache(s: Section, dataDir: string, hot: HotConfig): { local: LocalCacheConfig } {
  const l = s.section('local');
  const local: LocalCacheConfig = {
    enabled: l.bool('enabled', hot.driver !== 'fs'),
    path: path.resolve(dataDir, l.str('path', 'cache')),
    budgetBytes: l.bytes('budget', 2 * 2 ** 30, 1),
    readAhead: l.int('readAhead', 2, 0, 64),
    readAheadBytes: l.bytes('readAheadBudget', 256 * 2 ** 20, 0),
  };
  l.rejectUnknown();
  s.rejectUnknown();
  if (local.enabled && hot.driver === 'fs' && local.path === hot.fs.path) throw new ConfigError('cache.local.path', 'must not be the fs hot tier\'s directory');
  return { local };
}

function parseCold(s: Section, dataDir: string): ColdConfig {
  const k = s.int('k', 4, 1, 24);
  const m = s.int('m', 2, 1, 6);
  const chunkSize = s.bytes('chunkSize', 256 * 1024, 4096, 16 * 2 ** 20);
  if (chunkSize % 8 !== 0) throw new ConfigError('cold.chunkSize', 'must be a multiple of 8');
  const segmentSize = s.bytes('segmentSize', 32 * 2 ** 20, chunkSize, 2 ** 31);
  if (segmentSize % chunkSize !== 0) throw new ConfigError('cold.segmentSize', 'must be a multiple of cold.chunkSize');
  const nodeSections = s.list('nodes');
  const nodes = nodeSections
    ? nodeSections.map((n) => parseNode(n, dataDir))
    : Array.from({ length: k + m }, (_, i): NodeConfig => ({ name: `node${i + 1}`, kind: 'fs', weight: 1, path: path.resolve(dataDir, 'nodes', `node${i + 1}`) }));
  const names = new Set<string>();
  for (const n of nodes) {
    if (names.has(n.name)) throw new ConfigError('cold.nodes', `duplicate node name ${n.name}`);
    names.add(n.name);
  }
  if (nodes.length < k + m) throw new ConfigError('cold.nodes', `${k}+${m} coding needs at least ${k + m} nodes, ${nodes.length} configured`);
  // A shard must fit the smallest per-file limit of any node kind that has one (Iagon: 40 MB).
  const largestShard = shardSize(segmentSize, chunkSize, k);
  nodes.forEach((n, i) => {
    if (n.kind === 'iagon' && largestShard > n.maxFileBytes) {
      throw new ConfigError(`cold.nodes[${i}].maxFileBytes`, `node ${n.name} accepts files up to ${n.maxFileBytes} bytes, but ${k}+${m} coding of ${segmentSize}-byte segments makes ${largestShard}-byte shards: lower cold.segmentSize or raise cold.k`);
    }
  });
  const repair = s.section('repair');
  const cold: ColdConfig = {
    k,
    m,
    segmentSize,
    chunkSize,
    writeQuorum: s.int('writeQuorum', Math.min(k + 1, k + m), Math.min(k + 1, k + m), k + m),
    hedgeAfterMs: s.duration('hedgeAfter', 1500),
    nodes,
    repair: { intervalMs: repair.duration('interval', 60_000), maxBytesPerSecond: repair.bytes('maxBytesPerSecond', 64 * 2 ** 20) },
    gcGraceMs: s.duration('gcGrace', 5 * 60_000),
    inlineMaxBytes: s.bytes('inlineMax', 64 * 1024, 0, 2 ** 20),
  };
  repair.rejectUnknown();
  s.rejectUnknown();
  return cold;
}

/** meta: SQLite (embedded default) or PostgreSQL (TESSERA_DATABASE_URL alone selects it). */
function parseMeta(section: Section, env: NodeJS.ProcessEnv, dataDir: string): MetaConfig {
  const envUrl = env.TESSERA_DATABASE_URL !== undefined && env.TESSERA_DATABASE_URL !== '' ? env.TESSERA_DATABASE_URL : undefined;
  const driver = section.oneOf('driver', envUrl !== undefined ? 'postgres' : 'sqlite', ['sqlite', 'postgres'] as const);
  if (driver === 'sqlite') {
    if (section.has('postgres')) throw new ConfigError('meta.postgres', 'is only used with meta.driver postgres');
    if (envUrl !== undefined) throw new ConfigError('meta.driver', 'is sqlite, but TESSERA_DATABASE_URL is set (unset it, or use meta.driver postgres)');
    const meta: MetaConfig = { driver, path: path.resolve(dataDir, section.str('path', 'meta/tessera.db')) };
    section.rejectUnknown();
    return meta;
  }
  if (section.has('path')) throw new ConfigError('meta.path', 'is only used with meta.driver sqlite');
  const pgSection = section.section('postgres');
  // Read even when the environment overrides it, so a file that sets it is still valid.
  const fileUrl = pgSection.optStr('url');
  const url = envUrl ?? fileUrl;
  if (url === undefined) throw new ConfigError('meta.postgres.url', 'is required with meta.driver postgres (or set TESSERA_DATABASE_URL)');
  if (!/^postgres(ql)?:\/\//.test(url)) throw new ConfigError('meta.postgres.url', 'must be a postgres:// URL');
  const postgres: PostgresMetaConfig = {
    url,
    poolSize: pgSection.int('poolSize', 10, 1, 1000),
    statementTimeoutMs: pgSection.duration('statementTimeout', 30_000),
  };
  if (pgSection.has('ssl')) {
    if (/[?&]sslmode=/.test(url)) throw new ConfigError('meta.postgres.ssl', 'is also given by the URL (sslmode): set one of them');
    postgres.ssl = pgSection.oneOf('ssl', 'disable', ['disable', 'require', 'verify-full'] as const);
  }
  const caFile = pgSection.optStr('sslCaFile');
  if (caFile !== undefined) {
    if (postgres.ssl !== 'verify-full') throw new ConfigError('meta.postgres.sslCaFile', 'is only used with meta.postgres.ssl verify-full');
    postgres.sslCaFile = path.resolve(dataDir, caFile);
  }
  pgSection.rejectUnknown();
  section.rejectUnknown();
  return { driver, path: path.resolve(dataDir, 'meta/tessera.db'), postgres };
}

/** Load config: YAML (if any) + overrides + environment, validated. Throws ConfigError naming the bad key. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  let raw: Raw = {};
  if (opts.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new ConfigError('(file)', `cannot read ${opts.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (err) {
      throw new ConfigError('(file)', `${opts.file} is not valid YAML: ${(err as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined && !isObject(parsed)) throw new ConfigError('(file)', 'the top level must be a mapping');
    raw = (parsed as Raw | null) ?? {};
  }
  raw = deepMerge(raw, opts.overrides ?? {});
  raw = deepMerge(raw, envOverrides(env));
  const root = new Section(raw, '');
  const dataDir = path.resolve(root.str('dataDir', './data'));
  const server = parseServer(root.section('server'));
  const { users, missingFile: credentials } = parseUsers(root, env, dataDir);
  const { keys, missingFile: masterKey } = parseKeys(root, env, dataDir);
  const meta = parseMeta(root.section('meta'), env, dataDir);
  const hot = parseHot(root.section('hot'), dataDir);
  const cache = parseCache(root.section('cache'), dataDir, hot);
  const cold = parseCold(root.section('cold'), dataDir);
  const prices = parsePrices(root.section('prices'), cold.nodes.map((n) => n.name));
  const consoleConfig = parseConsole(root.section('console'), opts.file === undefined || root.has('console'), server.host);
  const logSection = root.section('log');
  const log = { level: logSection.oneOf('level', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const) };
  logSection.rejectUnknown();
  root.rejectUnknown();
  const missing = { ...(masterKey !== undefined ? { masterKeyFile: masterKey } : {}), ...(credentials !== undefined ? { credentialsFile: credentials } : {}) };
  return { config: { dataDir, server, users, keys, meta, hot, cache, cold, prices, console: consoleConfig, log }, missing };
}

/**
 * `tessera serve`: load, creating what the embedded default lacks (a master key, the admin credentials) in the data
 * dir, owner-only. Nothing else creates them: a maintenance command in the wrong (or an empty) data dir must not make
 * a new key and carry on as if the data were its own.
 */
export function provisionSecrets(opts: LoadOptions = {}): LoadedConfig {
  const first = loadConfig(opts);
  const { masterKeyFile: keyFile, credentialsFile: credFile } = first.missing;
  if (keyFile === undefined && credFile === undefined) return first;
  makePrivateDir(first.config.dataDir);
  if (keyFile !== undefined) writeSecretFile(keyFile, randomBytes(32).toString('base64') + '\n');
  let generated: LoadedConfig['generatedCredentials'];
  if (credFile !== undefined) {
    const accessKey = DEFAULT_ADMIN_ACCESS_KEY;
    const secretKey = randomBytes(24).toString('base64url');
    if (writeSecretFile(credFile, JSON.stringify({ accessKey, secretKey }, null, 2) + '\n')) generated = { accessKey, secretKey, file: credFile };
  }
  const loaded = loadConfig(opts);
  return generated && loaded.config.users[0]?.secretKey === generated.secretKey ? { ...loaded, generatedCredentials: generated } : loaded;
}

/** Writes a new owner-only file; false when it exists already (another process created it first: theirs wins). */
function writeSecretFile(file: string, text: string): boolean {
  try {
    writeFileSync(file, text, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  chmodSync(file, PRIVATE_FILE_MODE);
  return true;
}

/**
 * The embedded default rooted at dataDir, for tests and `npm start`: SQLite, a local hot directory, six fs nodes.
 * `overrides` uses the YAML shape (e.g. { cold: { segmentSize: '1MiB' } }).
 */
export function embeddedConfig(dataDir: string, overrides: Raw = {}, env: NodeJS.ProcessEnv = {}): TesseraConfig {
  return provisionSecrets({ overrides: deepMerge({ dataDir, log: { level: 'silent' }, server: { port: 0 }, console: { port: 0 } }, overrides), env }).config;
}
