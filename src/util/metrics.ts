import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * All Prometheus metrics of one gateway process. One registry per gateway instance (tests start several in one
 * process), created by createMetrics() and passed down explicitly.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const m = {
    registry,
    requests: new Counter({ name: 'tessera_s3_requests_total', help: 'S3 requests by operation and status', labelNames: ['op', 'status'] as const, registers: [registry] }),
    requestSeconds: new Histogram({
      name: 'tessera_s3_request_seconds',
      help: 'S3 request latency by operation',
      labelNames: ['op'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    bytesIn: new Counter({ name: 'tessera_s3_bytes_in_total', help: 'Request body bytes received', registers: [registry] }),
    bytesOut: new Counter({ name: 'tessera_s3_bytes_out_total', help: 'Response body bytes sent', registers: [registry] }),
    inflight: new Gauge({ name: 'tessera_s3_inflight_requests', help: 'Requests being served', registers: [registry] }),
    fairShareRefusals: new Counter({
      name: 'tessera_s3_fair_share_refusals_total',
      help: 'Requests refused with SlowDown because one access key or source address held its share of the request slots',
      labelNames: ['by'] as const,
      registers: [registry],
    }),
    slowBodies: new Counter({ name: 'tessera_s3_slow_bodies_total', help: 'Request bodies cut with RequestTimeout for arriving below server.minBodyRate', registers: [registry] }),
    hotHits: new Counter({ name: 'tessera_hot_hits_total', help: 'Reads served from the hot tier', registers: [registry] }),
    hotMisses: new Counter({ name: 'tessera_hot_misses_total', help: 'Reads that needed the cold tier', registers: [registry] }),
    hotBytes: new Gauge({ name: 'tessera_hot_bytes', help: 'Bytes held in the hot tier', registers: [registry] }),
    hotErrors: new Counter({ name: 'tessera_hot_errors_total', help: 'Hot tier failures that fell back to the cold tier', labelNames: ['op'] as const, registers: [registry] }),
    promotions: new Counter({ name: 'tessera_promotions_total', help: 'Objects promoted to the hot tier', labelNames: ['result'] as const, registers: [registry] }),
    evictions: new Counter({ name: 'tessera_evictions_total', help: 'Objects evicted from the hot tier', registers: [registry] }),
    localHits: new Counter({ name: 'tessera_local_cache_hits_total', help: 'Reads served from the local cache tier', registers: [registry] }),
    localMisses: new Counter({ name: 'tessera_local_cache_misses_total', help: 'Reads the local cache tier could not serve', registers: [registry] }),
    localBytes: new Gauge({ name: 'tessera_local_cache_bytes', help: 'Bytes held (or reserved for blobs being written) in the local cache tier', registers: [registry] }),
    localEvictions: new Counter({ name: 'tessera_local_cache_evictions_total', help: 'Objects evicted from the local cache tier', registers: [registry] }),
    localRefusals: new Counter({
      name: 'tessera_local_cache_refusals_total',
      help: 'Fills the local cache tier did not admit (too large, or displacing objects read at least as often)',
      registers: [registry],
    }),
    hotRefusals: new Counter({
      name: 'tessera_hot_refusals_total',
      help: 'Promotions the hot tier did not admit (too large, pinned objects fill it, or displacing objects read at least as often)',
      registers: [registry],
    }),
    readAhead: new Counter({
      name: 'tessera_read_ahead_total',
      help: 'Objects fetched ahead of a reader walking a prefix in key order (started), and fetches cancelled because the order broke',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    hotUploadsQueued: new Gauge({ name: 'tessera_hot_upload_queue_bytes', help: 'Bytes of local-cache blobs waiting for their upload to the hot tier', registers: [registry] }),
    inlineReads: new Counter({ name: 'tessera_inline_reads_total', help: 'Reads of small objects stored inline, answered from their record (no cache tier, no shards)', registers: [registry] }),
    reconstructions: new Counter({ name: 'tessera_cold_reconstructions_total', help: 'Cold reads that rebuilt data from shards (after single-flight coalescing)', registers: [registry] }),
    coalescedReads: new Counter({ name: 'tessera_cold_coalesced_reads_total', help: 'Cold reads that joined an in-flight reconstruction', registers: [registry] }),
    shardProblems: new Counter({ name: 'tessera_shard_problems_total', help: 'Shard problems seen on read', labelNames: ['kind'] as const, registers: [registry] }),
    repairs: new Counter({ name: 'tessera_shard_repairs_total', help: 'Shards rewritten by repair', labelNames: ['result'] as const, registers: [registry] }),
    nodeHealthy: new Gauge({ name: 'tessera_node_healthy', help: '1 when the node is healthy', labelNames: ['node'] as const, registers: [registry] }),
    nodeRequests: new Counter({ name: 'tessera_node_requests_total', help: 'Requests to storage nodes', labelNames: ['node', 'op', 'result'] as const, registers: [registry] }),
    gatewayInfo: new Gauge({
      name: 'tessera_gateway_info',
      help: "1, labelled with this gateway process's name in the store's leases (metrics are per process: one per --workers worker)",
      labelNames: ['process'] as const,
      registers: [registry],
    }),
    hedges: new Counter({ name: 'tessera_cold_hedged_reads_total', help: 'Extra shard reads started because a node was slow', registers: [registry] }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
