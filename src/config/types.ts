/** The validated configuration. Loaded from YAML + env overrides by src/config/load.ts; documented in config.example.yaml. */

export type Permission = 'read' | 'write' | 'admin';

export interface UserConfig {
  accessKey: string;
  secretKey: string;
  /** Bucket name (or "*") to permission. An admin may create and delete buckets. */
  buckets: Record<string, Permission>;
}

export interface FsNodeConfig {
  name: string;
  kind: 'fs';
  path: string;
  weight: number;
}

export interface HttpNodeConfig {
  name: string;
  kind: 'http';
  url: string;
  secret: string;
  weight: number;
  timeoutMs: number;
  /** Extra CA certificate (PEM path) for https node URLs with a private CA. */
  caFile?: string;
}

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3ConnectionConfig {
  endpoint?: string;
  region: string;
  bucket: string;
  prefix: string;
  forcePathStyle: boolean;
  /** Absent: the SDK's default provider chain (env, profile, instance role). */
  credentials?: S3Credentials;
  timeoutMs: number;
  maxAttempts: number;
}

export interface S3NodeConfig extends S3ConnectionConfig {
  name: string;
  kind: 's3';
  weight: number;
}

export interface IagonNodeConfig {
  name: string;
  kind: 'iagon';
  baseUrl: string;
  /** x-api-key; or a personal access token sent as Bearer. */
  apiKey?: string;
  token?: string;
  /** Directory id that holds this node's shards (created on first use when absent). */
  directoryId?: string;
  directoryName: string;
  /** Per-file password Iagon uses for private files: sent with each upload and download when set. */
  password?: string;
  weight: number;
  timeoutMs: number;
  maxAttempts: number;
  /** The service's per-file limit in bytes (40 MB). */
  maxFileBytes: number;
}

export type NodeConfig = FsNodeConfig | HttpNodeConfig | S3NodeConfig | IagonNodeConfig;

export interface HotConfig {
  driver: 'fs' | 's3';
  /** Hard byte budget of the hot tier (bytes as stored). */
  budgetBytes: number;
  /** When a cold read promotes the object: always, only when the read covered the whole object, or never. */
  promote: 'always' | 'full-read' | 'never';
  /** Also write new objects to the hot tier on PUT. */
  writeThrough: boolean;
  /** Store ciphertext (default) or plaintext in the hot tier. */
  encrypt: boolean;
  fs: { path: string };
  s3?: S3ConnectionConfig;
}

/** The local cache tier: the gateway machine's own disk in front of the hot tier (docs/ARCHITECTURE.md). */
export interface LocalCacheConfig {
  /** On by default with a remote (s3) hot tier; with the fs hot tier it would only duplicate it. */
  enabled: boolean;
  /** Directory; each gateway process uses a subdirectory of its own. */
  path: string;
  /** Hard byte budget of the whole directory (split evenly between `--workers` processes). */
  budgetBytes: number;
  /** Objects fetched ahead of a reader walking a prefix in key order (0: off). */
  readAhead: number;
  /** Bytes of read-ahead in flight at once. */
  readAheadBytes: number;
}

export interface ColdConfig {
  k: number;
  m: number;
  /** Plaintext bytes per segment. */
  segmentSize: number;
  /** Plaintext bytes per AEAD chunk; one chunk per shard block. */
  chunkSize: number;
  /** Shards of every segment that must be durable before a PUT is acknowledged (k+1..k+m). */
  writeQuorum: number;
  /** Ask another node when one has not answered a read within this many ms. */
  hedgeAfterMs: number;
  nodes: NodeConfig[];
  repair: { intervalMs: number; maxBytesPerSecond: number };
  /** Replaced and deleted objects' shards are kept this long so in-flight reads finish. */
  gcGraceMs: number;
  /** Single-request objects up to this size are stored inline in their record copies, not as shards (0: never). */
  inlineMaxBytes: number;
}

export interface ServerConfig {
  host: string;
  port: number;
  region: string;
  /** Virtual-hosted-style addressing: requests to BUCKET.<baseDomain> address BUCKET. */
  baseDomain?: string;
  /** Honour X-Forwarded-Host / X-Forwarded-Proto (only behind a trusted proxy). */
  trustForwardedHeaders: boolean;
  tls?: { certFile: string; keyFile: string };
  maxConcurrentRequests: number;
  /** The share of maxConcurrentRequests one access key may hold at once. */
  maxConcurrentRequestsPerKey: number;
  /** The share one source address may hold (X-Forwarded-For's last hop when trustForwardedHeaders). */
  maxConcurrentRequestsPerAddress: number;
  /** Request bodies slower than this (bytes per second, over each bodyRateWindowMs) are cut with RequestTimeout; 0 = off. */
  minBodyRate: number;
  bodyRateWindowMs: number;
  /** Idle/slow-client timeouts. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxSinglePutBytes: number;
  /** Bearer token for /metrics; absent = open. */
  metricsToken?: string;
}

export interface KeyConfig {
  /** Master keys by id; the first is used to wrap new data keys, all are tried to unwrap. 32 bytes each. */
  masterKeys: Array<{ id: string; key: Buffer }>;
}

/** meta.driver postgres: the store several gateways share. */
export interface PostgresMetaConfig {
  /** postgres://user:password@host:port/db (meta.postgres.url or TESSERA_DATABASE_URL). Never logged with its password. */
  url: string;
  /** Connections per gateway. */
  poolSize: number;
  /** Server-side limit per statement, ms. */
  statementTimeoutMs: number;
  /** TLS; absent: as the URL's sslmode says. */
  ssl?: 'disable' | 'require' | 'verify-full';
  /** CA certificate (PEM path) for ssl verify-full with a private CA. */
  sslCaFile?: string;
}

export interface MetaConfig {
  driver: 'sqlite' | 'postgres';
  /** The SQLite file (driver sqlite). */
  path: string;
  /** Present exactly when driver is postgres. */
  postgres?: PostgresMetaConfig;
}

/** `tessera cost`'s prices per GiB-month (examples by default, not quotes). */
export interface PricesConfig {
  currency: string;
  /** Any node without a price of its own. */
  nodePerGiBMonth: number;
  hotPerGiBMonth: number;
  localCachePerGiBMonth: number;
  /** Per node name. */
  nodes: Record<string, number>;
}

/** The operators' web console: a listener of its own (every path of the S3 port can be a bucket name). */
export interface ConsoleConfig {
  enabled: boolean;
  host: string;
  /** 9001 by default; 0 picks a free port. */
  port: number;
  /** A session ends this long after sign-in, whatever happens. */
  sessionTtlMs: number;
  /** ...or after this long without a request. */
  sessionIdleMs: number;
  /** How often the charts' figures are sampled. */
  sampleIntervalMs: number;
}

export interface TesseraConfig {
  dataDir: string;
  server: ServerConfig;
  users: UserConfig[];
  keys: KeyConfig;
  meta: MetaConfig;
  hot: HotConfig;
  cache: { local: LocalCacheConfig };
  cold: ColdConfig;
  prices: PricesConfig;
  console: ConsoleConfig;
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
}
