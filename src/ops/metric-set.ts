import type * as PromClient from 'prom-client'
import type { Histogram, Registry } from 'prom-client'
import type { SyncHealth } from '../engine/health'
import type { SyncStats, SyncStatus } from '../engine/stats'

type Labels = Record<string, string>

/** One app or bus reporting into a metric set. */
export interface Source {
  read(): { stats: SyncStats; status: SyncStatus; health: SyncHealth }
  labels(): { adapter: string; channel: string }
  /** The last value of each counter series already added, to add only what is new. */
  seen: Map<string, number>
}

/** The metrics registered once per registry and prefix, and the sources they read at scrape time. */
export interface MetricSet {
  sources: Set<Source>
  deliveryLatency: Histogram<string>
  publishLatency: Histogram<string>
}

const STATUSES: readonly SyncStatus[] = ['connecting', 'ready', 'reconnecting', 'closing', 'closed']
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

type Read = (source: ReturnType<Source['read']>) => [Labels, number][]
const one =
  (pick: (stats: SyncStats) => number): Read =>
  ({ stats }) => [[{}, pick(stats)]]

/** Counters: each is the total since the app was configured, from `stats()`. */
const COUNTERS: [name: string, help: string, extra: string[], read: Read][] = [
  ['messages_published_total', 'Events encoded and handed to the broker', [], one((s) => s.published)],
  [
    'messages_received_total',
    'Messages that arrived from the broker, valid or not',
    [],
    one((s) => s.received)
  ],
  ['messages_delivered_total', 'Remote events emitted on this instance', [], one((s) => s.delivered)],
  [
    'messages_dropped_total',
    'Messages not delivered or not published, by reason',
    ['reason'],
    ({ stats }) => Object.entries(stats.dropped).map(([reason, value]) => [{ reason }, value])
  ],
  [
    'publish_errors_total',
    'Publishes the broker refused or that failed in the driver',
    [],
    one((s) => s.publishErrors)
  ],
  ['reconnects_total', 'Times the subscription came back after a loss', [], one((s) => s.reconnects)],
  ['gaps_total', 'Durable delivery: gaps reported (sync-gap)', [], one((s) => s.gaps.reported)],
  ['gap_messages_missing_total', 'Durable delivery: messages lost in gaps', [], one((s) => s.gaps.missing)],
  ['errors_total', 'Problems raised (sync-error), summarised ones included', [], one((s) => s.errors.raised)],
  [
    'errors_suppressed_total',
    'Problems folded into an error-storm summary',
    [],
    one((s) => s.errors.suppressed)
  ]
]

/** Gauges: how each combines over several apps with the same labels (sum, or the worst one). */
const GAUGES: [name: string, help: string, extra: string[], combine: 'sum' | 'max', read: Read][] = [
  [
    'status',
    'Instances in each connection status (1 per instance)',
    ['status'],
    'sum',
    ({ status }) => STATUSES.map((name) => [{ status: name }, name === status ? 1 : 0])
  ],
  ['outbox_messages', 'Messages waiting for the broker', [], 'sum', one((s) => s.outbox.messages)],
  ['outbox_bytes', 'Bytes waiting for the broker', [], 'sum', one((s) => s.outbox.bytes)],
  [
    'outbox_fill',
    'How full the outbox is, 0 to 1 (1: dropping the oldest)',
    [],
    'max',
    ({ health }) => [[{}, health.outbox.fill]]
  ],
  [
    'last_message_age_seconds',
    'Seconds since the last message arrived from the broker (-1: none yet)',
    [],
    'max',
    ({ health }) => [[{}, health.lastMessageAgeMs === null ? -1 : health.lastMessageAgeMs / 1000]]
  ]
]

const keyOf = (labels: Labels): string => JSON.stringify(Object.entries(labels).sort())

/** Registers every metric on `registry`; their values are read from the sources when scraped. */
export function defineMetrics(
  client: typeof PromClient,
  registry: Registry,
  prefix: string,
  buckets = BUCKETS
): MetricSet {
  const sources = new Set<Source>()
  const base = ['adapter', 'channel']
  for (const [name, help, extra, read] of COUNTERS) {
    new client.Counter({
      name: prefix + name,
      help,
      labelNames: [...base, ...extra],
      registers: [registry],
      collect() {
        for (const source of sources) {
          for (const [labels, value] of read(source.read())) {
            const all = { ...source.labels(), ...labels }
            const key = name + keyOf(all)
            const delta = value - (source.seen.get(key) ?? 0)
            if (delta > 0) this.inc(all, delta)
            source.seen.set(key, value)
          }
        }
      }
    })
  }
  for (const [name, help, extra, combine, read] of GAUGES) {
    new client.Gauge({
      name: prefix + name,
      help,
      labelNames: [...base, ...extra],
      registers: [registry],
      collect() {
        const series = new Map<string, { labels: Labels; value: number }>()
        for (const source of sources) {
          for (const [labels, value] of read(source.read())) {
            const all = { ...source.labels(), ...labels }
            const key = keyOf(all)
            const known = series.get(key)
            if (!known) series.set(key, { labels: all, value })
            else known.value = combine === 'sum' ? known.value + value : Math.max(known.value, value)
          }
        }
        this.reset()
        for (const { labels, value } of series.values()) this.set(labels, value)
      }
    })
  }
  const histogram = (name: string, help: string) =>
    new client.Histogram({ name: prefix + name, help, labelNames: base, buckets, registers: [registry] })
  return {
    sources,
    deliveryLatency: histogram(
      'delivery_latency_seconds',
      "From the sender's timestamp to the event's delivery here (clocks of two hosts)"
    ),
    publishLatency: histogram(
      'publish_latency_seconds',
      'From handing a message to the adapter to its publish settling'
    )
  }
}
