// The JetStream half of the durable NATS adapter: the connection's JetStream record, the channel's stream
// made ready on it, and the DurableLog queries (ranges, first and last positions, named positions).
import type { JetStreamClient, JetStreamManager, KV, NatsConnection } from 'nats'
import type { Payload, Position } from '../../src/adapter'
import { SyncConnectionError, SyncOversizeError } from '../../src/errors'
import { POSITIONS_BUCKET, positionKey, type NatsDurableSettings } from './durable-options'
import { sequenceOf } from './durable-reader'
import { readRange } from './durable-range'
import { ensureStream, jetStreamOf } from './durable-stream'
import type { NatsSettings } from './options'
import { msgIdHeaderBytes, PubAcks } from './pubacks'
import { NatsAdapter } from './pubsub'

/**
 * The JetStream API timeout of the requests that resume reading after a reconnect or a lost consumer.
 * Why shorter than the client's 5 s: while a cluster elects a stream leader (nats-server's Raft election
 * timeout is 4-9 s) these requests go unanswered, and each attempt that waits out a long timeout adds
 * to the time after the election before the instance reads and publishes again. A timed-out attempt is
 * retried after RETRY_MS (durable.ts); nothing it did is lost (an orphaned ephemeral consumer expires by itself).
 */
const RESUME_TIMEOUT_MS = 1_500

interface JetStream {
  nc: NatsConnection
  jsm: JetStreamManager
  js: JetStreamClient
  /** The same API with RESUME_TIMEOUT_MS, for resuming. */
  resume: JetStreamManager
  /** Publishes awaiting their PubAck on this connection. */
  acks: PubAcks
  positions?: Promise<KV>
}

/** A NATS adapter with a JetStream stream for the channel; NatsDurableAdapter reads and writes it. */
export abstract class NatsJetStreamLog extends NatsAdapter {
  protected jetstream: JetStream | undefined

  constructor(
    settings: NatsSettings,
    protected readonly durable: NatsDurableSettings
  ) {
    super(settings)
  }

  /** The oversize error of a message the stream refused by its `max_msg_size` (set on it by someone). */
  protected async tooLarge(
    jetstream: JetStream,
    bytes: Uint8Array,
    messageId?: string
  ): Promise<SyncOversizeError> {
    const size = bytes.byteLength + msgIdHeaderBytes(messageId)
    const info = await jetstream.jsm.streams.info(this.durable.stream).catch(() => undefined)
    const limit = info?.config.max_msg_size ?? -1
    return new SyncOversizeError(
      size,
      limit,
      `A message to the JetStream stream "${this.durable.stream}" (its max_msg_size)`
    )
  }

  async readRange(
    after: Position,
    limit: number,
    inclusive = false
  ): Promise<{ payload: Payload; position: Position }[]> {
    const sequence = sequenceOf(after)
    return readRange(this.api().jsm, this.durable, inclusive ? sequence - 1 : sequence, limit)
  }

  async lastPosition(): Promise<Position | undefined> {
    const { state } = await this.api().jsm.streams.info(this.durable.stream)
    return state.messages === 0 ? undefined : String(state.last_seq)
  }

  async firstPosition(): Promise<Position | undefined> {
    const { state } = await this.api().jsm.streams.info(this.durable.stream)
    return state.messages === 0 ? undefined : String(state.first_seq)
  }

  async savePosition(name: string, position: Position): Promise<void> {
    sequenceOf(position)
    await (await this.positions()).put(positionKey(this.durable.channel, name), position)
  }

  async loadPosition(name: string): Promise<Position | undefined> {
    const entry = await (await this.positions()).get(positionKey(this.durable.channel, name))
    return entry?.operation === 'PUT' ? entry.string() : undefined
  }

  comparePositions(a: Position, b: Position): number {
    return sequenceOf(a) - sequenceOf(b)
  }

  /** The connection's JetStream record (made on its first use), once the channel's stream exists. */
  protected async prepare(nc: NatsConnection, first: boolean): Promise<JetStream> {
    let jetstream = this.jetstream
    if (jetstream?.nc !== nc) {
      const jsm = await jetStreamOf(nc)
      const resume = await nc.jetstreamManager({ timeout: RESUME_TIMEOUT_MS, checkAPI: false })
      jetstream?.acks.stop(
        new SyncConnectionError(this.target, `Lost the connection to NATS at ${this.target}`)
      )
      jetstream = this.jetstream = { nc, jsm, js: jsm.jetstream(), resume, acks: new PubAcks(nc) }
    }
    await ensureStream(first ? jetstream.jsm : jetstream.resume, this.durable, first)
    return jetstream
  }

  protected api(): JetStream {
    const jetstream = this.jetstream
    if (!jetstream || jetstream.nc !== this.nc) {
      throw new SyncConnectionError(this.target, `Not connected to NATS at ${this.target}`)
    }
    return jetstream
  }

  /** The positions bucket, created on first use with the configured replicas. */
  private positions(): Promise<KV> {
    const jetstream = this.api()
    jetstream.positions ??= jetstream.js.views.kv(POSITIONS_BUCKET, {
      history: 1,
      replicas: this.durable.replicas
    })
    return jetstream.positions
  }
}
