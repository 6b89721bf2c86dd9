// The bus's own state: identity, codec, counters, status, error reports, health and timing observers.
// The Bus (./bus.ts) adds the adapter, the consumer groups and the message paths on top.
import { randomBytes } from 'node:crypto'
import type { Position } from '../adapter'
import type { DropReason, SyncDeadLetterError, SyncError } from '../errors'
import { Codec } from '../protocol/codec'
import type { Payload, Serializer } from '../protocol/serializers'
import type { DeadLetter } from './dead-letters'
import { createDebug } from './debug'
import type { SyncGap } from './durable'
import { outboxFill, type SyncHealth } from './health'
import type { EngineOptions } from './options'
import { ReportLimiter } from './reports'
import { createStats, snapshot, type SyncStats, type SyncStatus, type SyncStatusEvent } from './stats'

const debug = createDebug('feathers-fanout/bus')

/** What a bus tells whoever runs it. Listeners are called synchronously; a throwing one is ignored. */
export interface BusListeners {
  /** The status changed. */
  status?(event: SyncStatusEvent): void
  /** An operational problem: never thrown, always reported here (and counted where it is a drop). */
  error?(error: SyncError): void
  /**
   * A message arrived from the broker, before decoding. By default it is decoded at once with
   * `receive`; a binding may route it first (the Feathers binding emits it as `sync-in`).
   */
  incoming?(payload: Payload, position?: Position): void
  /** Durable delivery found messages that retention dropped before this instance read them. */
  gap?(gap: SyncGap): void
  /** A consumer group gave up on a message after `maxAttempts`; it is kept for `replay`. */
  deadLetter?(letter: DeadLetter, error: SyncDeadLetterError): void
}

/** Timings for metrics; see `Bus.observe`. */
export interface BusObserver {
  /**
   * A message was decoded and is being handed to subscribers. `latencyMs`: from the sender's timestamp
   * (its clock) to now, undefined for messages without one (feathers-sync's).
   */
  delivering?(latencyMs: number | undefined): void
  /** The adapter took a publish: `latencyMs` from the send to the adapter's publish settling. */
  published?(latencyMs: number): void
}

/** The state every bus keeps, whatever runs it; the `Bus` in ./bus.ts builds on it. */
export abstract class BusCore {
  /** Random id of this instance, carried by every message it sends. */
  readonly instanceId = randomBytes(8).toString('hex')
  readonly counters: SyncStats = createStats()
  readonly codec: Codec
  /** The adapter's `type` once one runs, `custom` otherwise. */
  type = 'custom'
  protected current: SyncStatus = 'connecting'
  protected readonly observers = new Set<BusObserver>()
  protected readonly limiter: ReportLimiter
  private statusSince = Date.now()
  protected lastMessageAt: number | undefined

  constructor(
    readonly options: EngineOptions & { keepOwn?: boolean },
    protected readonly listeners: BusListeners,
    serializer?: Serializer
  ) {
    const { key: channel, maxMessageBytes, keepOwn = false } = options
    this.codec = new Codec(
      { ...options, instanceId: this.instanceId, channel, maxMessageBytes, keepOwn },
      (r, e, n) => this.drop(r, e, n)
    )
    if (serializer) this.codec.serializer = serializer
    this.limiter = new ReportLimiter(options.errorReportIntervalMs, (error) => {
      debug(error)
      this.call(() => this.listeners.error?.(error))
    })
    this.counters.errors = this.limiter.counts
  }

  get status(): SyncStatus {
    return this.current
  }

  /** A copy of the counters. */
  stats(): SyncStats {
    return snapshot(this.counters)
  }

  /** Readiness, liveness and backlog, for health probes (see {@link SyncHealth}). */
  health(): SyncHealth {
    const now = Date.now()
    const { messages, bytes } = this.counters.outbox
    return {
      status: this.current,
      ready: this.current === 'ready',
      live: this.current !== 'closed',
      statusAgeMs: now - this.statusSince,
      lastMessageAgeMs: this.lastMessageAt === undefined ? null : now - this.lastMessageAt,
      outbox: { messages, bytes, fill: outboxFill({ messages, bytes }, this.options.outbox) },
      adapter: this.type,
      instanceId: this.instanceId
    }
  }

  /** Calls `observer` with delivery and publish timings from now on; returns the function that stops it. */
  observe(observer: BusObserver): () => void {
    this.observers.add(observer)
    return () => this.observers.delete(observer)
  }

  /** Counts `count` dropped messages and, unless it is routine, reports why. */
  drop(reason: DropReason, error?: SyncError, count = 1): void {
    this.counters.dropped[reason] += count
    if (error) this.report(error)
  }

  /**
   * Reports an operational problem to the `error` listener; repeats of a kind within
   * `errorReportIntervalMs` are counted and summarised once (see {@link ReportLimiter}).
   */
  report(error: SyncError): void {
    this.limiter.report(error)
  }

  /** Moves to `status` and tells the listener, once per actual change. */
  setStatus(status: SyncStatus, cause?: Error): void {
    const previous = this.current
    if (previous === status || previous === 'closed') return
    this.current = status
    this.statusSince = Date.now()
    const event: SyncStatusEvent = cause ? { status, previous, cause } : { status, previous }
    this.call(() => this.listeners.status?.(event))
  }

  protected notify(fn: (observer: BusObserver) => void): void {
    for (const observer of this.observers) this.call(() => fn(observer))
  }

  // Listeners are called from broker callbacks: a throwing one must not crash the process.
  protected call(fn: () => void): void {
    try {
      fn()
    } catch (listenerError) {
      debug('a listener threw', listenerError)
    }
  }
}
