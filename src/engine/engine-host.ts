// The engine's interfaces: what it needs from the bus that runs it, what it gives back, and the publish
// path it runs (./publisher.ts) with the connection state both share.
import type { Position } from '../adapter'
import type { DropReason, SyncError } from '../errors'
import type { Payload } from '../protocol/serializers'
import type { SyncGap } from './durable'
import type { SyncStats, SyncStatus } from './stats'

/** What the engine needs from whoever runs it (the bus): counters, reports, status and incoming bytes. */
export interface EngineHost {
  readonly stats: SyncStats
  readonly status: SyncStatus
  /** Reports an operational problem (never thrown). */
  report(error: SyncError): void
  /** Counts a dropped message and reports `error` when given. */
  drop(reason: DropReason, error?: SyncError): void
  /** Gives a message that waited a fresh signature time. */
  refresh(payload: Payload): Payload
  setStatus(status: SyncStatus, cause?: Error): void
  /** A message arrived from the broker; `position` is its place in the log in durable mode. */
  received(payload: Payload, position?: Position): void
  /** Durable delivery found messages that retention dropped before this instance read them. */
  gap(gap: SyncGap): void
  /** The adapter took a publish, `latencyMs` after it was handed to it. */
  published?(latencyMs: number): void
}

/** A running adapter: where messages are sent, when it is ready, how it stops. */
export interface Engine {
  /** Publishes an encoded message now, or queues it while the broker is away. */
  send(payload: Payload): void
  /** Settles once subscribed (or rejects after `connectTimeoutMs`; the adapter keeps trying). */
  readonly ready: Promise<void>
  /** Resolves once connected and subscribed, however long that takes; rejects only if starting failed. */
  readonly connected: Promise<void>
  /** Drains (bounded by `closeTimeoutMs`), then closes the adapter. Call once. */
  close(): Promise<void>
}

/** The connection state the engine steers and the publish path reads. */
export interface PublishLink {
  /** Whether publishes reach the broker now. */
  connected: boolean
  /** Whether the engine has closed. */
  closed: boolean
}

/** The publish path of a running engine (see `createPublisher` in ./publisher.ts). */
export interface Publisher {
  /** Publishes an encoded message now, or queues it behind what waits. */
  send(payload: Payload): void
  /** Sends what waits (resends first, then the outbox), unless a hold is under way. */
  flush(): void
  /** Holds what waits for `resumeDelayMs`, then flushes it. */
  holdThenFlush(): void
  /** Ends a hold under way without flushing. */
  release(): void
  /** Whether a hold is under way. */
  holding(): boolean
  /** Whether messages wait in the outbox or the resend list. */
  queued(): boolean
  /** Whether nothing is in flight, queued or waiting for the end of the tick. */
  idle(): boolean
  /** Sends (or queues) what waits for the end of the tick now. */
  flushBatch(): void
  /** Resolves once idle. */
  drained(): Promise<void>
  /** Lets an outbox overflow be reported again. */
  rearmOverflow(): void
  /** Counts everything still queued as unsent and forgets it. */
  discard(): void
}
