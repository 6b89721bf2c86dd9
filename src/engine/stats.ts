import type { DropReason } from '../errors'
import type { ReportCounts } from './reports'

/** Connection status of an instance, the same on every adapter. */
export type SyncStatus = 'connecting' | 'ready' | 'reconnecting' | 'closing' | 'closed'

/** Emitted on the app as `sync-status` whenever the status changes. */
export interface SyncStatusEvent {
  status: SyncStatus
  previous: SyncStatus
  /** What caused the change, when known (a driver error wrapped in a SyncError). */
  cause?: Error
}

/** Counters since the app was configured; see docs/events-and-context.md. */
export interface SyncStats {
  /** Events encoded and handed to the adapter (or to `sync-out` listeners). */
  published: number
  /** Messages that arrived from the broker, valid or not, own echoes included. */
  received: number
  /** Remote events emitted on this instance's services. */
  delivered: number
  /** Messages not delivered or not published, by reason. */
  dropped: Record<DropReason, number>
  /** Publishes the broker refused or that failed in the driver. */
  publishErrors: number
  /** Times the adapter got its subscription back after losing it. */
  reconnects: number
  /** Messages waiting for the broker right now. */
  outbox: { messages: number; bytes: number }
  /**
   * Durable delivery: gaps reported (`sync-gap`), and the messages they lost where the broker counts
   * them (JetStream, RabbitMQ streams; Redis gaps add to `reported` only).
   */
  gaps: { reported: number; missing: number }
  /**
   * Problems raised (`sync-error`), and how many of them were folded into an error-storm summary
   * instead of being emitted one by one (see `errorReportIntervalMs`).
   */
  errors: ReportCounts
}

export const emptyDropCounts = (): Record<DropReason, number> => ({
  undecodable: 0,
  shape: 0,
  unknownPath: 0,
  unknownEvent: 0,
  oversize: 0,
  duplicate: 0,
  ownEcho: 0,
  outboxOverflow: 0,
  serializeFailed: 0,
  unauthenticated: 0,
  unsent: 0,
  stale: 0,
  replayed: 0,
  missed: 0
})

export const createStats = (): SyncStats => ({
  published: 0,
  received: 0,
  delivered: 0,
  dropped: emptyDropCounts(),
  publishErrors: 0,
  reconnects: 0,
  outbox: { messages: 0, bytes: 0 },
  gaps: { reported: 0, missing: 0 },
  errors: { raised: 0, suppressed: 0 }
})

/** A copy that the caller may keep and compare. */
export const snapshot = (stats: SyncStats): SyncStats => ({
  ...stats,
  dropped: { ...stats.dropped },
  outbox: { ...stats.outbox },
  gaps: { ...stats.gaps },
  errors: { ...stats.errors }
})
