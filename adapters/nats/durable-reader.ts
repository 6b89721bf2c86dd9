import { createDebug } from '../../src/engine/debug'
import {
  AckPolicy,
  ConsumerEvents,
  DeliverPolicy,
  nanos,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StreamState
} from 'nats'
import type { DurableHooks, StartPosition } from '../../src/adapter'
import { SyncConfigError } from '../../src/errors'
import type { NatsDurableSettings } from './durable-options'

const debug = createDebug('feathers-fanout/nats')

/** A consumer left behind by a lost connection is removed by the server after this long. */
const INACTIVE_MS = 30_000
/** Statuses after which the consumer is gone although the connection is not (a cluster lost its server). */
const LOST: string[] = [
  ConsumerEvents.ConsumerDeleted,
  ConsumerEvents.ConsumerNotFound,
  ConsumerEvents.StreamNotFound,
  ConsumerEvents.HeartbeatsMissed
]

/** A stream sequence from a position; positions are decimal text. */
export function sequenceOf(position: unknown, option = 'position'): number {
  const text = typeof position === 'string' ? position : ''
  if (!/^\d{1,15}$/.test(text)) {
    throw new SyncConfigError(
      option,
      `A NATS position is a JetStream stream sequence as decimal text, got ${JSON.stringify(position)}`
    )
  }
  return Number(text)
}

/** Payload bytes of a JetStream message: a view, not a copy (a Buffer, for deserializers' toString()). */
export const bytesOf = ({ data }: JsMsg): Buffer => Buffer.from(data.buffer, data.byteOffset, data.byteLength)

/**
 * Reads the channel's stream from a position with an ephemeral pull consumer (no acks, in memory). It
 * remembers the next sequence to hand over, so every (re)start — after a lost connection, a restarted
 * server or a consumer that vanished with its server — begins right after the last message handed to
 * `hooks.message`: none skipped, none twice (a message below that sequence is dropped), and a jump in
 * sequences is reported as a gap: the stream only ever loses messages from its head, to retention.
 */
export class LogReader {
  /** The next sequence to hand over; undefined until the first start has resolved `from`. */
  private next: number | undefined
  private generation = 0
  private messages: ConsumerMessages | undefined
  private first = false

  /** `lost` is told when the consumer is gone while the connection is not: start again. */
  constructor(
    private readonly settings: NatsDurableSettings,
    private readonly from: StartPosition,
    private readonly hooks: DurableHooks,
    private readonly lost: () => void
  ) {}

  /** (Re)starts on the current connection; resolves once the consumer is registered. */
  async start(jsm: JetStreamManager, js: JetStreamClient): Promise<void> {
    this.stop()
    const generation = ++this.generation
    const { stream, subject } = this.settings
    const next = this.resolve((await jsm.streams.info(stream)).state)
    const created = await jsm.consumers.add(stream, {
      filter_subject: subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: next,
      ack_policy: AckPolicy.None,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(INACTIVE_MS)
    })
    debug('consumer created at', next)
    const consumer = await js.consumers.get(stream, created.name)
    const messages = await consumer.consume({
      callback: (msg) => this.receive(generation, msg),
      // The client's 100 pulls 25 at a time; a catch-up of thousands then costs hundreds of pull requests.
      max_messages: 1_000,
      expires: 5_000
    })
    if (generation !== this.generation) {
      messages.stop()
      return
    }
    this.messages = messages
    this.first = true
    debug('consuming')
    void this.watch(generation, messages)
  }

  /** Stops delivering; a later start resumes where it stopped. */
  stop(): void {
    this.generation++
    this.messages?.stop()
    this.messages = undefined
  }

  /** Where to start given what the stream holds now, reporting what retention dropped. */
  private resolve(state: StreamState): number {
    const first = Math.max(1, state.first_seq)
    const last = state.last_seq
    const from = this.from
    if (this.next === undefined) {
      if (from.kind === 'tail') this.next = last + 1
      else if (from.kind === 'head') this.next = first
      else this.next = sequenceOf(from.position) + 1
    }
    const next = this.next
    if (next > last + 1) {
      // Further than the stream ever got: it was replaced (a server that kept no data, or deleted).
      this.hooks.gap({ after: String(next - 1), firstAvailable: String(first), missing: undefined })
      this.next = first
    } else if (next < first) {
      this.hooks.gap({ after: String(next - 1), firstAvailable: String(first), missing: first - next })
      this.next = first
    }
    return this.next
  }

  private receive(generation: number, msg: JsMsg): void {
    const next = this.next
    if (generation !== this.generation || next === undefined || msg.seq < next) return
    if (msg.seq > next) {
      this.hooks.gap({ after: String(next - 1), firstAvailable: String(msg.seq), missing: msg.seq - next })
    }
    this.next = msg.seq + 1
    if (this.first) debug('first message', msg.seq, 'pending', msg.info.pending)
    this.first = false
    try {
      this.hooks.message(bytesOf(msg), String(msg.seq))
    } catch (cause) {
      debug('durable message hook threw', cause)
    }
  }

  private async watch(generation: number, messages: ConsumerMessages): Promise<void> {
    try {
      for await (const status of await messages.status()) {
        if (generation !== this.generation) return
        if (LOST.includes(status.type)) {
          debug('durable consumer lost:', status.type)
          this.stop()
          this.lost()
          return
        }
      }
    } catch (cause) {
      debug('durable consumer status failed', cause)
    }
  }
}
