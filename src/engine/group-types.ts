import type { GroupMessage, Position } from '../adapter'
import type { SyncDeadLetterError, SyncError } from '../errors'
import type { Envelope } from '../protocol/envelope'
import type { DeadLetter } from './dead-letters'

/** What a consumer group handler gets beside the event's data. */
export interface GroupMessageMeta {
  /** The consumer group. */
  group: string
  /** Stable across redeliveries and replays: `<sender instance>:<message id>`. Use it to skip repeats. */
  idempotencyKey: string
  path: string
  event: string
  /** The context that travelled with the event (the Feathers binding passes a rebuilt hook context). */
  context: unknown
  /** How many times the broker has handed this message to the group, this time included. */
  deliveries: number
  /** Which attempt this is (1 the first time), counting earlier deliveries. */
  attempt: number
  /** Its position in the channel's log. */
  position: Position | undefined
  /** Aborted when the attempt times out (`timeoutMs`), so the handler can stop its work. */
  signal: AbortSignal
  /** True when the app replays a dead letter. */
  replay: boolean
}

/** A consumer group handler: its promise resolving acknowledges the message; throwing retries it. */
export type GroupHandler<T = unknown, M = GroupMessageMeta> = (data: T, meta: M) => unknown

/** Counters and state of one consumer group on this instance. */
export interface GroupStats {
  group: string
  /** Whether this instance is a member of the broker's group right now (false before joining and after leaving). */
  joined: boolean
  /** Messages this member holds right now (being handled or waiting to be retried). */
  pending: number
  /** Messages handled successfully and acknowledged. */
  handled: number
  /** Attempts that failed and were retried. */
  retried: number
  /** Messages given up on after `maxAttempts` (kept as dead letters). */
  deadLettered: number
  /** Messages of the log no handler of this group listens to; acknowledged at once. */
  skipped: number
  /** Messages of the log not yet handed to the group, where the broker tells it; else undefined. */
  lag: number | undefined
}

/** What a group needs from the bus that runs it. */
export interface GroupHost {
  /** Decodes a group delivery (own messages kept, no duplicate window); undefined when dropped. */
  decode(payload: GroupMessage['payload']): Envelope | undefined
  report(error: SyncError): void
  deadLetter(letter: DeadLetter, error: SyncDeadLetterError): void
  /** Rebuilds the context a handler gets from the travelling one (identity without a binding). */
  context(envelope: Envelope, handler: GroupHandler): unknown
}
