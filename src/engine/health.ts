import type { SyncStatus } from './stats'

/**
 * What a readiness or liveness probe needs, from `app.sync.health()` (or `bus.health()`). Plain data,
 * safe to send as JSON. See docs/operations.md for how to wire it to probes.
 */
export interface SyncHealth {
  /** Connection status right now. */
  status: SyncStatus
  /** Events reach the broker and arrive from it now (`status === 'ready'`): the readiness answer. */
  ready: boolean
  /**
   * The sync layer is alive: not closed. A broker outage does not make an instance dead: it queues and
   * recovers by itself, and restarting it would only drop its outbox. The liveness answer.
   */
  live: boolean
  /** Ms spent in the current status. */
  statusAgeMs: number
  /** Ms since the last message arrived from the broker (any, own echo included); null before the first. */
  lastMessageAgeMs: number | null
  /** Messages waiting for the broker, and how full the outbox is (0 to 1, the larger of both limits). */
  outbox: { messages: number; bytes: number; fill: number }
  /** The adapter's type, e.g. `redis`. */
  adapter: string
  /** This instance's id, as carried by its messages. */
  instanceId: string
}

/** How full an outbox is: the larger of its two ratios, between 0 and 1. */
export const outboxFill = (
  outbox: { messages: number; bytes: number },
  limits: { maxMessages: number; maxBytes: number }
): number => Math.min(1, Math.max(outbox.messages / limits.maxMessages, outbox.bytes / limits.maxBytes))
