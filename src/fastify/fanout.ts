import type { Position } from '../adapter'
import { createBus } from '../bus'
import type { Bus, BusListeners } from '../engine/bus'
import type { SyncGap } from '../engine/durable'
import type { GroupStats } from '../engine/group'
import type { SyncStats, SyncStatus, SyncStatusEvent } from '../engine/stats'
import { SyncConfigError, SyncDeliveryError, SyncMessageError, type SyncError } from '../errors'
import type { Envelope } from '../protocol/envelope'
import { parseFanoutOptions, type FanoutOptions } from './options'
import {
  bindGroupOrigin,
  consumeTopic,
  topicLetter,
  type FanoutDeadLetter,
  type FanoutDeadLetterEvent,
  type FanoutGroupHandler,
  type FanoutGroupOptions
} from './groups'
import type { FanoutHandler, FanoutMeta, Topic, TopicData } from './topics'

/**
 * The envelope's `path` of a topic message. Service events of Feathers apps carry their service path;
 * a topic has none, so a Feathers app on the same channel drops it as `unknownPath` and vice versa.
 */
export const TOPIC_PATH = ''

/** What `fanout.on()` reports. */
export interface FanoutEvents {
  /** An operational problem (a lost connection, a dropped message, a failing handler); never thrown. */
  error: SyncError
  /** The connection status changed. */
  status: SyncStatusEvent
  /** Durable delivery: retention dropped messages before this instance read them. */
  gap: SyncGap
  /** A consumer group gave up on a message after `maxAttempts`; it is kept for `replay`. */
  'dead-letter': FanoutDeadLetterEvent
}

type AnyHandler = (data: unknown, meta: FanoutMeta<string>) => void | Promise<void>
type Listeners = { [E in keyof FanoutEvents]: Set<(value: FanoutEvents[E]) => void> }

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as { then?: unknown } | null)?.then === 'function'

function checkTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string' || topic === '') {
    throw new SyncConfigError('topic', `A topic must be a non-empty string, got ${JSON.stringify(topic)}`)
  }
}

/**
 * Topics over the framework-free bus: `publish(topic, data)` and `subscribe(topic, handler)` on every
 * instance, with the bus's status, counters, readiness and close. What Fastify decorates as `fanout`.
 */
export class Fanout {
  private readonly bus: Bus
  private readonly handlers = new Map<string, Set<AnyHandler>>()
  private readonly listeners: Listeners = {
    error: new Set(),
    status: new Set(),
    gap: new Set(),
    'dead-letter': new Set()
  }
  private readonly localFirst: boolean

  /** @throws SyncConfigError for a bad option, naming it */
  constructor(
    options: FanoutOptions,
    extra: Pick<BusListeners, 'error' | 'status' | 'gap'> & {
      deadLetter?: (event: FanoutDeadLetterEvent) => void
    } = {}
  ) {
    const { bus, emitOrder } = parseFanoutOptions(options)
    this.localFirst = emitOrder === 'local-first'
    this.bus = createBus(bus, {
      error: (error) => this.emit('error', error, extra.error),
      status: (event) => this.emit('status', event, extra.status),
      gap: (gap) => this.emit('gap', gap, extra.gap),
      deadLetter: (letter, error) =>
        this.emit('dead-letter', { letter: topicLetter(letter), error }, extra.deadLetter)
    })
    bindGroupOrigin(this.bus)
    // Nobody may be waiting on `ready`; a rejection is reported as status and error events anyway.
    this.bus.ready.catch(() => undefined)
    this.bus.subscribe(({ envelope, own, position }) => {
      if (this.deliver(envelope, own, position)) this.bus.counters.delivered++
    })
  }

  /** Random id of this instance, carried by every message it sends as `meta.sender`. */
  get instanceId(): string {
    return this.bus.instanceId
  }

  /** The adapter in use: `redis`, `nats`, `amqp`, `memory`, `cluster` or a custom adapter's type. */
  get type(): string {
    return this.bus.type
  }

  /** Connection status right now. */
  get status(): SyncStatus {
    return this.bus.status
  }

  /** Settles once the subscription is open; rejects after `connectTimeoutMs` (it keeps trying). */
  get ready(): Promise<void> {
    return this.bus.ready
  }

  /** A copy of the counters; `delivered` counts messages handed to at least one handler. */
  stats(): SyncStats {
    return this.bus.stats()
  }

  /**
   * Publishes `data` on `topic` to every instance, or queues it while the broker is away. Returns false
   * when it cannot travel (too large, not serializable): counted, reported, and handed to no handler.
   * @throws SyncConfigError for an empty topic
   */
  publish<T extends Topic>(topic: T, data: TopicData<T>): boolean {
    checkTopic(topic)
    const encoded = this.bus.encode({ event: topic, path: TOPIC_PATH, data, context: null })
    if (!encoded) return false
    this.bus.send(encoded.payload)
    if (this.localFirst) this.deliver(encoded.envelope, true, undefined)
    return true
  }

  /**
   * Calls `handler` with each message of `topic` from now on, on this instance; returns the function that
   * stops it. Every instance that subscribes gets every message.
   * @throws SyncConfigError for an empty topic or a handler that is not a function
   */
  subscribe<T extends Topic>(topic: T, handler: FanoutHandler<T>): () => void
  /**
   * Run-once handling: each message of `topic` goes to one member of the consumer group `options.group`
   * across the fleet (the instances subscribed with that group), acknowledged when `handler` resolves,
   * retried with backoff when it throws or times out, and dead-lettered after `maxAttempts`. Needs
   * `durable`. Returns the function that stops it; the last one stopped leaves the group, and its promise
   * settles once left.
   * @throws SyncConfigError naming the bad argument or option, or `durable` when it is off
   */
  subscribe<T extends Topic>(
    topic: T,
    handler: FanoutGroupHandler<T>,
    options: FanoutGroupOptions
  ): () => Promise<void>
  subscribe<T extends Topic>(
    topic: T,
    handler: FanoutHandler<T> | FanoutGroupHandler<T>,
    options?: FanoutGroupOptions
  ): () => void | Promise<void> {
    checkTopic(topic)
    if (typeof handler !== 'function') {
      throw new SyncConfigError('handler', `The handler of topic "${topic}" must be a function`)
    }
    if (options !== undefined) {
      return consumeTopic(
        this.bus,
        { path: TOPIC_PATH, event: topic },
        handler as FanoutGroupHandler<string>,
        options
      )
    }
    const set = this.handlers.get(topic) ?? new Set<AnyHandler>()
    this.handlers.set(topic, set)
    // Wrapped so that the same function subscribed twice runs twice and each unsubscribes alone.
    const plain = handler as FanoutHandler<T>
    const entry: AnyHandler = (data, meta) => plain(data as TopicData<T>, meta as FanoutMeta<T>)
    set.add(entry)
    return () => {
      set.delete(entry)
      if (set.size === 0 && this.handlers.get(topic) === set) this.handlers.delete(topic)
    }
  }

  /** Counters of each consumer group of this instance (joined, pending, handled, retried, deadLettered, lag). */
  groupStats(): Promise<GroupStats[]> {
    return this.bus.groupStats()
  }

  /**
   * The dead letters of `group` kept on this instance, oldest first.
   * @throws SyncConfigError for a group this instance is not a member of
   */
  deadLetters(group: string): FanoutDeadLetter[] {
    return this.bus.deadLetters(group).map(topicLetter)
  }

  /**
   * Runs the group's handler again on dead letter `id`, with its retries; resolves once handled (the letter
   * is then removed), rejects with the last failure otherwise (it stays).
   * @throws SyncConfigError for an unknown group or letter
   */
  replay(group: string, id: string): Promise<void> {
    return this.bus.replay(group, id)
  }

  /** Listens to operational events (`error`, `status`, `gap`); returns the function that stops it. */
  on<E extends keyof FanoutEvents>(event: E, listener: (value: FanoutEvents[E]) => void): () => void {
    const set = this.listeners[event] as Set<(value: FanoutEvents[E]) => void>
    set.add(listener)
    return () => set.delete(listener)
  }

  /** Waits (bounded by `closeTimeoutMs`) for queued messages to reach the broker, then closes. Idempotent. */
  async close(): Promise<void> {
    await this.bus.close()
    this.handlers.clear()
  }

  /** Hands a decoded message to the handlers of its topic; whether any handler got it. */
  private deliver(envelope: Envelope, own: boolean, position: Position | undefined): boolean {
    const { path, event: topic, data, sender, id } = envelope
    if (path !== TOPIC_PATH) {
      // A service event of a Feathers app sharing the channel: routine, counted only.
      this.bus.drop('unknownPath')
      return false
    }
    const set = this.handlers.get(topic)
    if (!set || set.size === 0) return false
    if (sender === undefined || id === undefined) {
      const text = `Dropped a message of topic "${topic}" without sender or id`
      this.bus.drop('shape', new SyncMessageError('shape', text))
      return false
    }
    const meta: FanoutMeta<string> =
      position === undefined ? { topic, sender, id, own } : { topic, sender, id, own, position }
    for (const handler of [...set]) this.call(handler, data, meta)
    return true
  }

  private call(handler: AnyHandler, data: unknown, meta: FanoutMeta<string>): void {
    const failed = (cause: unknown) =>
      this.bus.report(new SyncDeliveryError(TOPIC_PATH, meta.topic, { cause }))
    try {
      const result = handler(data, meta)
      if (isThenable(result)) result.then(undefined, failed)
    } catch (cause) {
      failed(cause)
    }
  }

  private emit<E extends keyof FanoutEvents>(
    event: E,
    value: FanoutEvents[E],
    first?: (value: FanoutEvents[E]) => void
  ): void {
    for (const listener of [first, ...this.listeners[event]]) {
      try {
        listener?.(value)
      } catch {
        // A throwing listener must not break delivery (these run in broker callbacks).
      }
    }
  }
}
