import type { EngineOptions } from './engine/options'
import type { SyncError } from './errors'
import type { Payload } from './protocol/serializers'

export type { Payload } from './protocol/serializers'
export { redact } from './engine/options'

/** The options an adapter factory gets: the bus's, validated with defaults, and its own as given. */
export type ResolvedOptions = EngineOptions

/** More about a status change, where the adapter knows it. */
export interface StatusDetail {
  /**
   * `reconnecting` only for publishing: the subscription stayed up (a separate publisher connection was
   * lost). Plain pub/sub then has no reason to hold the outbox for other instances after it is back.
   * @default false
   */
  subscriptionKept?: boolean
  /**
   * `reconnecting` only for receiving: the connection that publishes stayed up (a separate subscriber or
   * reader connection was lost, e.g. Redis cut a subscriber over `client-output-buffer-limit`). The core
   * keeps sending instead of queueing, so the other instances are not kept waiting for this one's
   * subscription. Only for an adapter whose `publish` works without its subscription.
   * @default false
   */
  publishingKept?: boolean
}

/** What the core gives an adapter to report back with. */
export interface AdapterHooks {
  /**
   * The connection was lost (`reconnecting`) or the subscription is active again (`ready`).
   * The core queues publishes in its outbox while not ready and flushes them on `ready`. An adapter may
   * tell the same status again (with a new cause or detail, e.g. a failed publish while already away);
   * a repeat changes nothing.
   */
  status(status: 'ready' | 'reconnecting', cause?: Error, detail?: StatusDetail): void
  /** An operational problem the app should hear about; it never stops the adapter. */
  error(error: SyncError): void
}

/**
 * The contract every adapter implements. The bus owns the envelope, serialization,
 * filtering, the outbox and error reporting; an adapter only moves bytes. Any adapter must:
 * - never throw from a driver callback, and report driver errors through `hooks.error`;
 * - deliver each message it receives on the channel once to `onMessage`, as text or bytes;
 * - keep retrying after a lost connection, and report it with `hooks.status`;
 * - report `reconnecting` BEFORE it rejects the publishes in flight on a lost connection: the engine
 *   resends a rejected publish only while the adapter is not ready, and counts it as a publish error
 *   otherwise (a message rejected for good, like an oversize one, carries `retryable: false`);
 * - close only what it opened, never a client the user passed in.
 */
export interface Adapter {
  /** Short name shown as `app.sync.type`, e.g. `redis`. */
  readonly type: string
  /** What it can do; the engine asks these, never `type`. @default { broadcast: true, durable: false } */
  readonly capabilities?: AdapterCapabilities
  /** Where it connects, for error messages: `host:port`, never credentials. */
  readonly target: string
  /**
   * The default of the `resumeDelayMs` option for this adapter: about the longest time between two
   * instances getting their subscription back after the same outage, i.e. its longest wait between
   * reconnect attempts plus a margin. Leave it out (0) where instances cannot miss each other's return.
   */
  readonly resumeDelayMs?: number
  /**
   * The largest message the broker takes, in bytes, where the adapter knows it (NATS: the server's
   * `max_payload`, known once connected). Batched frames stay under it. Leave it out where unknown.
   */
  readonly maxPayloadBytes?: number
  /**
   * Opens connections. Resolves once it can publish. If the broker is unreachable it keeps
   * retrying; the core rejects `app.sync.ready` after `connectTimeoutMs` but keeps waiting.
   */
  connect(hooks: AdapterHooks): Promise<void>
  /** Subscribes to the channel. Resolves once the broker has registered the subscription. */
  subscribe(onMessage: (payload: Payload) => void): Promise<void>
  /**
   * Hands one message to the broker. Resolves (or returns) once the driver took it. Rejects when the
   * connection is lost under it, after `hooks.status('reconnecting')` (see the rule above).
   */
  publish(payload: Payload): void | Promise<void>
  /** Releases everything the adapter opened. Safe to call more than once. */
  close(): Promise<void>
}

/**
 * A place in a durable channel's log, as the broker numbers it: a Redis stream entry id
 * (`1700000000000-0`), a JetStream stream sequence or a RabbitMQ stream offset (both as decimal text).
 * Opaque to the engine except through the adapter's `comparePositions`.
 */
export type Position = string

/** Where a durable subscription starts. */
export type StartPosition =
  /** Only messages added after the subscription is registered. */
  | { kind: 'tail' }
  /** Everything the broker still holds, oldest first. */
  | { kind: 'head' }
  /** The message right after `position` (the last one this instance handled). */
  | { kind: 'after'; position: Position }

/** What a durable subscription reports back. */
export interface DurableHooks {
  /** One message of the log with its position; called in log order. */
  message(payload: Payload, position: Position): void
  /**
   * Retention no longer holds messages the subscription asked for: everything after `after` and
   * before `firstAvailable` is gone. `missing` is the count when the broker's numbering tells it
   * (contiguous sequences: JetStream, RabbitMQ streams), undefined where it cannot (Redis ids).
   */
  gap(gap: {
    after: Position
    firstAvailable: Position
    missing: number | undefined
    reason?: GapReason
  }): void
}

/**
 * Why messages are gone: `retention` dropped them before the subscription read them (the default when an
 * adapter does not say), or the broker `lost` them: the log was deleted, flushed or evicted, or went back
 * behind positions already handed out (a replica promoted without them, a restart from an older
 * snapshot). After `lost`, `firstAvailable` may be a position below `after`: the log was started again.
 */
export type GapReason = 'retention' | 'lost'

/**
 * The durable capability: a log per channel that keeps messages for instances that are away.
 * Any durable adapter must:
 * - resolve `publishDurable` only once the broker has stored the message;
 * - start `subscribeDurable` at `start`, hand over every message after it once and in order, and after a
 *   lost connection resume by itself right after the last position it handed over (never skipping);
 * - report through `hooks.gap` when `start` (or the resume point) is older than what the broker keeps,
 *   and with `reason: 'lost'` when the broker lost or restarted the log under it; never skip silently;
 * - keep positions for a named consumer in the broker (`savePosition` / `loadPosition`), so an instance
 *   restarted with the same name resumes where it stopped.
 */
export interface DurableLog {
  /**
   * Appends to the channel's log; resolves once the broker stored it, with the message's position when
   * the broker tells it at publish time (Redis, JetStream), undefined when it does not (RabbitMQ streams
   * over AMQP 0-9-1 give the offset only to consumers).
   * `messageId` is the same on every resend of one message (after a lost connection or a publish the
   * broker did not confirm in time); an adapter whose broker deduplicates by id should pass it on, so a
   * message stored before its confirmation was lost is not stored twice (JetStream: `Nats-Msg-Id`,
   * within the stream's `duplicate_window`).
   */
  publishDurable(payload: Payload, messageId?: string): Promise<Position | undefined>
  /** Opens the positioned subscription; resolves once it is registered with the broker. */
  subscribeDurable(start: StartPosition, hooks: DurableHooks): Promise<void>
  /**
   * Messages after `after` (exclusive), oldest first, at most `limit`; for replays to clients. With
   * `inclusive` true, the message at `after` itself comes first when the log still holds it (a replay that
   * resumes inside a batched frame reads that frame again). @default inclusive false
   */
  readRange(
    after: Position,
    limit: number,
    inclusive?: boolean
  ): Promise<{ payload: Payload; position: Position }[]>
  /** The position of the newest message in the log, or undefined when it is empty. */
  lastPosition(): Promise<Position | undefined>
  /**
   * The position of the oldest message retention still holds, or undefined when the log is empty.
   * Optional: without it a client replay cannot tell that retention dropped part of what it asked for.
   */
  firstPosition?(): Promise<Position | undefined>
  /** Stores `position` as where the consumer `name` stopped (kept by the broker). */
  savePosition(name: string, position: Position): Promise<void>
  /** Where the consumer `name` stopped, or undefined if it never saved one. */
  loadPosition(name: string): Promise<Position | undefined>
  /** Negative, zero or positive, as `a` is before, at or after `b` in the log. */
  comparePositions(a: Position, b: Position): number
}

/** What an adapter can do; the engine asks these, never the adapter's `type`. */
export interface AdapterCapabilities {
  /** Plain pub/sub to every subscribed instance (every adapter). */
  readonly broadcast: true
  /** A positioned, replayable log per channel ({@link DurableLog}). */
  readonly durable: boolean
  /** Consumer groups over that log ({@link GroupLog}). @default false */
  readonly group?: boolean
}

/** The capabilities of an adapter that declares none: plain pub/sub. */
export const BROADCAST_ONLY: AdapterCapabilities = Object.freeze({ broadcast: true, durable: false })

/** What `adapter` can do. */
export const capabilitiesOf = (adapter: Adapter): AdapterCapabilities =>
  adapter.capabilities ?? BROADCAST_ONLY

/** One message handed to a member of a consumer group. */
export interface GroupMessage {
  payload: Payload
  /**
   * Its position in the channel's log, where the broker tells it (Redis, JetStream); undefined where it
   * does not (a RabbitMQ group reads a queue of its own, whose deliveries carry no stream offset).
   */
  position: Position | undefined
  /** How many times the broker has handed it to this group so far, this time included (1 the first time). */
  deliveries: number
  /** Acknowledges it: the group never gets it again. Resolves once the broker recorded the ack. */
  ack(): Promise<void>
  /**
   * Gives it back for another member (or this one) after about `delayMs` (0: at once). Where the broker
   * has no negative ack (Redis), the message simply stays pending and is claimed after `claimAfterMs`.
   */
  nack(delayMs: number): Promise<void>
}

/** How a member takes part in a consumer group. */
export interface GroupOptions {
  /** Unacknowledged messages of a member that went silent are handed to another after this long (ms). */
  claimAfterMs: number
  /** Most unacknowledged messages a member holds at once. */
  prefetch: number
}

/** A member's place in a consumer group; `leave()` stops deliveries (what it holds unacked is claimed later). */
export interface GroupMembership {
  leave(): Promise<void>
  /**
   * Optional: how many messages of the log the group has not been handed yet, where the broker tells it
   * (Redis 7 `XINFO GROUPS` lag, JetStream `num_pending`, RabbitMQ queue depth); undefined otherwise.
   */
  lag?(): Promise<number | undefined>
}

/** A message a consumer group gave up on, as an adapter may keep it in the broker for inspection. */
export interface StoredDeadLetter {
  /** The dead letter's id (the message's idempotency key). */
  id: string
  payload: Payload
  /** Its position in the channel's log. */
  position: Position | undefined
  /** How many times the handler ran on it. */
  attempts: number
  /** The last failure's message. */
  reason: string
}

/**
 * The group capability, on top of {@link DurableLog}: consumer groups over the channel's log, each message
 * handed to one member of each group, redelivered to another after `claimAfterMs` when not acknowledged.
 * Any group adapter must:
 * - create the group at the log's tail the first time any member joins (later members share it);
 * - hand each message to exactly one member at a time, at most `prefetch` unacknowledged per member;
 * - count deliveries per message and pass the count along;
 * - after a lost connection, resume the membership by itself (the messages it held stay pending).
 */
export interface GroupLog {
  joinGroup(
    group: string,
    member: string,
    options: GroupOptions,
    onMessage: (message: GroupMessage) => void
  ): Promise<GroupMembership>
  /**
   * Optional: keeps a dead letter of `group` in the broker where that is cheap (Redis: a capped stream
   * `{key}:dead:<group>`), so it outlives the process. The engine keeps a bounded list in process anyway.
   */
  storeDeadLetter?(group: string, letter: StoredDeadLetter): Promise<void>
}
