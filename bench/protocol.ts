/**
 * The control messages between the benchmark's orchestrator and its child processes. They travel on
 * the children's IPC channel, tagged `bench`, so the cluster adapter and the bare cluster relay (which
 * share that channel in cluster mode) leave them alone.
 */

/**
 * Which implementation a child runs. `fanout-lean`: feathers-fanout with `includeResult: false`;
 * `fanout-durable`: feathers-fanout with `durable: true` (only where the adapter keeps messages);
 * `fanout-batch`: feathers-fanout with `batch: true` (batched frames, for fleets without feathers-sync);
 * `fanout-durable-batch`: both `durable: true` and `batch: true`.
 */
export type Impl =
  | 'fanout'
  | 'fanout-lean'
  | 'fanout-durable'
  | 'fanout-batch'
  | 'fanout-durable-batch'
  | 'feathers-sync'
  | 'bare'
/** Which transport carries the events. */
export type Transport = 'redis' | 'amqp' | 'nats' | 'cluster'

export const IMPLS: readonly Impl[] = [
  'fanout',
  'fanout-lean',
  'fanout-durable',
  'fanout-batch',
  'fanout-durable-batch',
  'feathers-sync',
  'bare'
]
/** What a run measures unless `--impl` says otherwise. */
export const DEFAULT_IMPLS: readonly Impl[] = [
  'fanout',
  'fanout-durable',
  'fanout-batch',
  'fanout-durable-batch',
  'feathers-sync',
  'bare'
]
/** The transports whose adapter has durable delivery (`fanout-durable*` runs only there). */
export const DURABLE_TRANSPORTS: readonly Transport[] = ['redis', 'amqp', 'nats']
export const TRANSPORTS: readonly Transport[] = ['redis', 'amqp', 'nats', 'cluster']

/** What a child is told at fork time, in its environment as JSON. */
export interface ChildConfig {
  impl: Impl
  transport: Transport
  /** Broker URL; empty for cluster. */
  url: string
  /** Channel, exchange or subject: one per implementation, so idle fleets hear nothing. */
  key: string
  role: 'publisher' | 'subscriber'
  /** The travelling context feathers-fanout sends for the benchmark's `create`; the bare clients copy it. */
  context: Record<string, unknown>
}

export const CONFIG_ENV = 'FANOUT_BENCH_CHILD'

/** Orchestrator → child. */
export type Command =
  | { cmd: 'expect'; phase: number; count: number; doneAfter: number }
  | { cmd: 'probe'; phase: number; seq: number; size: number }
  | { cmd: 'burst'; phase: number; count: number; size: number }
  | { cmd: 'rate'; phase: number; count: number; perSecond: number; size: number }
  | { cmd: 'report'; latencies: boolean }
  | { cmd: 'exit' }

/** Timestamps are microseconds of the system-wide monotonic clock (`process.hrtime`). */
export interface SendResult {
  startUs: number
  endUs: number
  /** Sends the implementation refused at once (a rejected `create`, a thrown publish). */
  errors: number
}

/** What a receiving side (a subscriber, or the publisher's own local listener) saw of one phase. */
export interface PhaseReport {
  phase: number
  expected: number
  /** Distinct events of the phase received. */
  got: number
  duplicates: number
  /** Events of another phase that arrived meanwhile. */
  stray: number
  /** When the last event of the phase arrived. */
  lastUs: number
  /** Arrival minus send time of each event, in microseconds (only when asked for). */
  latenciesUs: number[]
  /** CPU time (user + system) the process used since the phase started. */
  cpuUs: number
  rssBytes: number
  heapUsedBytes: number
  /** feathers-fanout only: messages the instance counted as missed (`dropped.missed`) during the phase. */
  missed: number
  /** feathers-fanout only: the distinct `sync-error` messages of the phase (numbers masked). */
  problems: string[]
}

export type ChildMessage =
  | { bench: 'ready' }
  | { bench: 'failed'; message: string }
  | { bench: 'done'; phase: number }
  | { bench: 'reply'; id: number; value?: unknown; error?: string }

export type ParentMessage = { bench: 'cmd'; id: number } & Command

export const isBench = (message: unknown): message is { bench: string } =>
  typeof message === 'object' &&
  message !== null &&
  typeof (message as { bench?: unknown }).bench === 'string'

/** Microseconds on the monotonic clock every process on the machine shares. */
export const nowUs = (): number => Number(process.hrtime.bigint()) / 1e3
