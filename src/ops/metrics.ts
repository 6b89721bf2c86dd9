import type * as PromClient from 'prom-client'
import type { Registry } from 'prom-client'
import { Bus } from '../engine/bus'
import type { SyncStats, SyncStatus } from '../engine/stats'
import { SyncConfigError, SyncDependencyError } from '../errors'
import { defineMetrics, type MetricSet, type Source } from './metric-set'

/**
 * The part of a prom-client `Registry` the published types name, written out so that an app without
 * prom-client (an optional peer) still type-checks with `skipLibCheck` off. Pass a real `Registry`.
 */
export interface MetricsRegistry {
  /** The content type of `metrics()`'s text, for the response header. */
  readonly contentType: string
  /** Every metric of the registry in Prometheus' text format. */
  metrics(): Promise<string>
}

/** Options of {@link syncMetrics}. */
export interface SyncMetricsOptions {
  /** The prom-client registry the metrics are registered on. @default prom-client's global `register` */
  registry?: MetricsRegistry
  /** Start of every metric name. @default 'feathers_fanout_' */
  prefix?: string
  /**
   * Histogram buckets of both latencies, in seconds.
   * @default [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
   */
  buckets?: number[]
}

/** The metrics of one app (or bus) on a registry. */
export interface SyncMetrics {
  /** The registry they are on: serve `await registry.metrics()` with `registry.contentType`. */
  readonly registry: MetricsRegistry
  /** Stops reporting this app: its gauges go, its counters keep their last values. Safe to call twice. */
  stop(): void
}

export const DEFAULT_METRICS_PREFIX = 'feathers_fanout_'

// undefined: not tried yet.
let promClient: typeof PromClient | undefined

function loadPromClient(): typeof PromClient {
  if (promClient === undefined) {
    try {
      promClient = require('prom-client') as typeof PromClient
    } catch (cause) {
      throw new SyncDependencyError('prom-client', 'Prometheus metrics', { cause })
    }
  }
  return promClient
}

// One set of metrics per registry and prefix: prom-client refuses a name registered twice, and several
// apps in one process (or the same app twice) report into the same series, told apart by their labels.
const sets = new WeakMap<Registry, Map<string, MetricSet>>()

/** A Feathers app configured with `sync()`: its `app.sync.metrics()` does the work. */
export interface SyncedApp {
  sync: { metrics(options?: SyncMetricsOptions): SyncMetrics }
}

/**
 * Reports an app's (or a bus's) counters, status, outbox and latencies as Prometheus metrics through
 * `prom-client`, an optional peer dependency loaded only here. Labels: `adapter` and `channel` on every
 * metric, plus `reason` (drops) and `status`. The list is in docs/operations.md.
 * @throws SyncDependencyError when `prom-client` is not installed
 * @throws SyncConfigError when `target` is not a synced app or a bus, or an option is wrong
 */
export function syncMetrics(target: SyncedApp | Bus, options: SyncMetricsOptions = {}): SyncMetrics {
  if (target instanceof Bus) return busMetrics(target, options)
  if (typeof target?.sync?.metrics !== 'function') {
    throw new SyncConfigError(
      'app',
      'syncMetrics() needs a Feathers app configured with sync() (or a bus from createBus())'
    )
  }
  return target.sync.metrics(options)
}

/** {@link syncMetrics} for a bus. */
export function busMetrics(bus: Bus, options: SyncMetricsOptions = {}): SyncMetrics {
  const client = loadPromClient()
  const { registry: given = client.register, prefix = DEFAULT_METRICS_PREFIX, buckets } = options
  if (!(given instanceof client.Registry)) {
    throw new SyncConfigError('registry', 'Option "registry" must be a prom-client Registry')
  }
  const registry: Registry = given
  if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) {
    throw new SyncConfigError(
      'prefix',
      `Option "prefix" must be a valid metric name start, got ${String(prefix)}`
    )
  }
  if (
    buckets !== undefined &&
    (!Array.isArray(buckets) || !buckets.every((b) => Number.isFinite(b) && b > 0))
  ) {
    throw new SyncConfigError('buckets', 'Option "buckets" must be an array of positive numbers (seconds)')
  }
  let byPrefix = sets.get(registry)
  if (!byPrefix) sets.set(registry, (byPrefix = new Map()))
  let set = byPrefix.get(prefix)
  if (!set) byPrefix.set(prefix, (set = defineMetrics(client, registry, prefix, buckets)))
  const source: Source = {
    read: () => ({
      stats: bus.counters as SyncStats,
      status: bus.status as SyncStatus,
      health: bus.health()
    }),
    labels: () => ({ adapter: bus.type, channel: bus.options.key }),
    seen: new Map()
  }
  const metrics = set
  metrics.sources.add(source)
  const unobserve = bus.observe({
    delivering(latencyMs) {
      if (latencyMs !== undefined) metrics.deliveryLatency.observe(source.labels(), latencyMs / 1000)
    },
    published(latencyMs) {
      metrics.publishLatency.observe(source.labels(), latencyMs / 1000)
    }
  })
  const stop = () => {
    unobserve()
    metrics.sources.delete(source)
  }
  void bus.whenClosed.then(stop)
  return { registry, stop }
}
