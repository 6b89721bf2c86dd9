import { capabilitiesOf, type Adapter, type DurableLog, type GroupLog, type Position } from '../adapter'
import { SyncConfigError, SyncGroupError, SyncMessageError } from '../errors'
import { isFrame, unpackFrame } from '../protocol/batch'
import type { DeliveryMode, Message } from '../protocol/codec'
import type { Envelope } from '../protocol/envelope'
import type { Payload, Serializer } from '../protocol/serializers'
import { BusCore, type BusListeners } from './bus-core'
import { createDebug } from './debug'
import { framedPosition } from './event-positions'
import { runEngine, type Engine } from './engine'
import type { DeadLetter } from './dead-letters'
import type { GroupHandler, GroupStats } from './group'
import type { ConsumerGroupOptions } from './group-options'
import { ConsumerGroups, type GroupFilter } from './groups'
import type { EngineOptions } from './options'
import { traceCarrier, type TraceCarrier } from '../ops/trace'

export type { BusListeners, BusObserver } from './bus-core'

const debug = createDebug('feathers-fanout/bus')

/**
 * A decoded message handed to subscribers, with whether this instance sent it and, in durable mode, its
 * position in the channel's log.
 */
export type Delivery = { envelope: Envelope; own: boolean; position?: Position }

/**
 * The framework-agnostic core: one per app and channel. It owns the codec (envelope, serializer,
 * signing, duplicate window), the engine (outbox, retries, drain), status and counters. Bindings use
 * `publish`/`subscribe`, or `encode`/`send`/`receive` where they need to see the bytes.
 */
export class Bus extends BusCore {
  private engine: Engine | undefined
  private durableLog: (Adapter & DurableLog) | undefined
  private adapter: Adapter | undefined
  private readonly subscribers = new Set<(delivery: Delivery) => void>()
  private closing: Promise<void> | undefined
  private readonly trace: TraceCarrier | undefined
  private markClosed: () => void = () => undefined
  /** Resolves once `close()` has finished. */
  readonly whenClosed = new Promise<void>((resolve) => (this.markClosed = resolve))
  /** Settles once the adapter is subscribed; rejects after `connectTimeoutMs` (it keeps trying). */
  ready: Promise<void> = Promise.resolve()
  /**
   * The context a consumer group handler gets, from the travelling one; a binding rebuilds its own here.
   * @default the travelling context as it arrived
   */
  groupContext: (envelope: Envelope) => unknown = (envelope) => envelope.context
  /** The consumer groups of this instance (see `consume`). */
  readonly groups: ConsumerGroups

  constructor(
    options: EngineOptions & { keepOwn?: boolean },
    listeners: BusListeners = {},
    serializer?: Serializer
  ) {
    super(options, listeners, serializer)
    this.trace = traceCarrier(options.traceContext)
    const { durable } = options
    const member = (durable !== false && durable.consumerName) || this.instanceId
    this.groups = new ConsumerGroups(options, member, {
      decode: (payload) => this.codec.decode(payload, 'group')?.envelope,
      report: (error) => this.report(error),
      context: (envelope) => this.groupContext(envelope),
      deadLetter: (letter, error) => {
        debug(error)
        this.call(() => this.listeners.deadLetter?.(letter, error))
        this.storeDeadLetter(letter)
      }
    })
  }

  /** Whether an adapter runs (started and not closed). */
  get running(): boolean {
    return this.engine !== undefined
  }

  /** The running adapter's durable log in durable mode (what replays read), undefined otherwise. */
  get log(): (Adapter & DurableLog) | undefined {
    return this.durableLog
  }

  /** Starts `adapter`; one per bus. @throws SyncConfigError when one runs already */
  start(adapter: Adapter): void {
    if (this.engine) throw new SyncConfigError('adapter', `This bus already runs the "${this.type}" adapter`)
    this.type = adapter.type
    if (this.options.durable !== false && capabilitiesOf(adapter).durable) {
      this.durableLog = adapter as Adapter & DurableLog
    }
    const current = () => this.current
    this.engine = runEngine(adapter, this.options, {
      stats: this.counters,
      get status() {
        return current()
      },
      report: (error) => this.report(error),
      published: (latencyMs) => {
        if (this.observers.size > 0) this.notify((observer) => observer.published?.(latencyMs))
      },
      drop: (reason, error) => this.drop(reason, error),
      refresh: (payload) => this.codec.refresh(payload),
      setStatus: (status, cause) => this.setStatus(status, cause),
      received: (payload, position) => {
        // A batched frame is opened here, so that `incoming` (and `sync-in`) sees one message at a time;
        // from a durable log each with its event position (see ./event-positions.ts).
        if (!isFrame(payload)) return this.arrived(payload, position)
        this.eventsOf(payload).forEach((event, index) =>
          this.arrived(event, position === undefined ? undefined : framedPosition(position, index + 1))
        )
      },
      gap: (gap) => {
        this.counters.gaps.reported++
        if (gap.missing !== undefined) this.counters.gaps.missing += gap.missing
        this.call(() => this.listeners.gap?.(gap))
      }
    })
    this.ready = this.engine.ready
    this.adapter = adapter
    this.groups.attach(adapter, this.engine.connected)
  }

  /**
   * Registers `handler` for one service event under the consumer group `group`: each such event is handled
   * by one member of the group (one instance), acknowledged when the handler's promise resolves, retried
   * with backoff when it throws or times out, and dead-lettered after `maxAttempts`. Needs `durable` and an
   * adapter with the group capability. Returns the function that removes the handler; removing the
   * group's last handler here leaves the group (its promise settles once left).
   * @throws SyncConfigError naming the bad argument or option
   */
  consume<T = unknown>(
    group: string,
    filter: GroupFilter,
    handler: GroupHandler<T>,
    options?: ConsumerGroupOptions
  ): () => Promise<void> {
    return this.groups.consume(group, filter, handler as GroupHandler, options)
  }

  /** Counters of every consumer group of this instance, with the broker's lag where it tells it. */
  groupStats(): Promise<GroupStats[]> {
    return this.groups.stats()
  }

  /** The dead letters of `group` kept in process, oldest first. */
  deadLetters(group: string): DeadLetter[] {
    return this.groups.deadLetters(group)
  }

  /** Runs `group`'s handler again on a dead letter; resolves once handled (the letter is then removed). */
  replay(group: string, id: string): Promise<void> {
    return this.groups.require(group).replay(id)
  }

  /** Encodes and sends a message; false when it could not be encoded (counted and reported). */
  publish(message: Message): boolean {
    const encoded = this.encode(message)
    if (encoded) this.send(encoded.payload)
    return encoded !== undefined
  }

  /** Encodes a message (counted as published) without sending it. */
  encode(message: Message): { envelope: Envelope; payload: Payload } | undefined {
    const trace = message.trace ?? this.trace?.capture()
    const encoded = this.codec.encode(trace === undefined ? message : { ...message, trace })
    if (encoded) this.counters.published++
    return encoded
  }

  /** Sends an encoded message through the adapter, or queues it while the broker is away. */
  send(payload: Payload): void {
    this.engine?.send(payload)
  }

  /**
   * Decodes an incoming message and hands it to every subscriber; drops are counted and reported. A
   * message with a `position` came from a durable log and is judged by the durable policy.
   */
  receive(raw: Payload, position?: Position): Delivery | undefined {
    if (isFrame(raw)) {
      // Each event of a frame from a durable log gets its own position within the message's.
      const events = this.eventsOf(raw)
      events.forEach((event, index) =>
        this.receive(event, position === undefined ? undefined : framedPosition(position, index + 1))
      )
      return undefined
    }
    this.counters.received++
    this.lastMessageAt = Date.now()
    const mode: DeliveryMode = position === undefined ? 'broadcast' : 'durable'
    const decoded = this.codec.decode(raw, mode)
    if (!decoded) return undefined
    const delivery: Delivery = position === undefined ? decoded : { ...decoded, position }
    const { t, trace } = decoded.envelope
    if (this.observers.size > 0) {
      const latencyMs = t === undefined ? undefined : Math.max(0, this.lastMessageAt - t)
      this.notify((observer) => observer.delivering?.(latencyMs))
    }
    // No closure per message unless a trace context has to wrap the hand-over.
    if (this.trace && trace !== undefined) this.trace.run(trace, () => this.handOver(delivery))
    else this.handOver(delivery)
    return delivery
  }

  /** Calls `handler` with every message received from now on; returns the unsubscribe function. */
  subscribe(handler: (delivery: Delivery) => void): () => void {
    this.subscribers.add(handler)
    return () => this.subscribers.delete(handler)
  }

  /** Drains (bounded by `closeTimeoutMs`) and closes the adapter. Safe to call more than once. */
  close(): Promise<void> {
    // Closing from the first moment: status changes while groups and the outbox drain do not show.
    if (this.closing === undefined && this.engine) this.setStatus('closing')
    this.closing ??= this.groups
      .close(this.options.closeTimeoutMs)
      .then(() => (this.engine ? this.engine.close() : undefined))
      .finally(() => {
        this.limiter.flush()
        this.subscribers.clear()
        this.observers.clear()
        this.setStatus('closed')
        this.markClosed()
      })
    return this.closing
  }

  private handOver(delivery: Delivery): void {
    for (const subscriber of this.subscribers) subscriber(delivery)
  }

  private arrived(payload: Payload, position?: Position): void {
    if (this.listeners.incoming) this.listeners.incoming(payload, position)
    else this.receive(payload, position)
  }

  /** The messages of a batched frame; none when it is malformed, counted as one dropped `shape`. */
  private eventsOf(frame: Uint8Array): Payload[] {
    const events = unpackFrame(frame)
    if (typeof events !== 'string') return events
    this.counters.received++
    this.drop('shape', new SyncMessageError('shape', `Dropped a malformed batched frame: ${events}`))
    return []
  }

  private storeDeadLetter(letter: DeadLetter): void {
    const adapter = this.adapter as (Adapter & Partial<GroupLog>) | undefined
    const store = adapter?.storeDeadLetter
    if (!store) return
    const kept = this.groups.get(letter.group)?.payloadOf(letter.id)
    if (kept === undefined) return
    const { group, id, position, attempts, error } = letter
    store
      .call(adapter, group, { id, payload: kept, position, attempts, reason: error.message })
      .catch((cause: unknown) =>
        this.report(new SyncGroupError(group, `Could not store dead letter ${id} in the broker`, { cause }))
      )
  }
}
