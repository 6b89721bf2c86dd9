import { createDebug } from '../../src/engine/debug'
import type { JetStreamClient, JetStreamManager, KV, NatsConnection } from 'nats'
import type {
  AdapterCapabilities,
  AdapterHooks,
  DurableHooks,
  DurableLog,
  GroupLog,
  GroupMembership,
  GroupMessage,
  GroupOptions,
  Position,
  StartPosition
} from '../../src/adapter'
import { SyncConfigError, SyncConnectionError, SyncOversizeError } from '../../src/errors'
import type { Payload } from '../../src/adapter'
import { POSITIONS_BUCKET, positionKey, type NatsDurableSettings } from './durable-options'
import { LogReader, sequenceOf } from './durable-reader'
import { checkGroup } from '../group-options'
import { NatsGroupMember, type GroupHost } from './group'
import { readRange } from './durable-range'
import { ensureStream, jetStreamOf } from './durable-stream'
import type { NatsSettings } from './options'
import { MessageTooLarge, msgIdHeaderBytes, PubAcks } from './pubacks'
import { NatsAdapter } from './pubsub'
import { checkSize } from './reason'

const debug = createDebug('feathers-fanout/nats')

/** How long to wait before trying JetStream again when it did not answer on a live connection. */
const RETRY_MS = 250
/**
 * The JetStream API timeout of the requests that resume reading after a reconnect or a lost consumer.
 * Why shorter than the client's 5 s: while a cluster elects a stream leader (nats-server's Raft election
 * timeout is 4-9 s) these requests go unanswered, and each attempt that waits out a long timeout adds
 * to the time after the election before the instance reads and publishes again. A timed-out attempt is
 * retried after RETRY_MS; nothing it did is lost (an orphaned ephemeral consumer expires by itself).
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

/**
 * NATS with durable delivery: the channel's events go to a JetStream stream (see durable-stream.ts) and
 * each instance reads it with its own ephemeral consumer from a position (see LogReader). Connection
 * handling, status and reconnecting are the pub/sub adapter's; this class only swaps what "subscribed"
 * means and how a publish is confirmed (the stream's PubAck instead of a flush).
 */
export class NatsDurableAdapter extends NatsAdapter implements DurableLog, GroupLog {
  override readonly capabilities: AdapterCapabilities = { broadcast: true, durable: true, group: true }
  private jetstream: JetStream | undefined
  private reader: LogReader | undefined
  /** Consumer group members joined through this adapter (see group.ts). */
  private readonly members = new Set<NatsGroupMember>()

  constructor(
    settings: NatsSettings,
    private readonly durable: NatsDurableSettings
  ) {
    super(settings)
  }

  /** Connects, then checks for JetStream and creates (or updates) the channel's stream. */
  override async connect(hooks: AdapterHooks): Promise<void> {
    await super.connect(hooks)
    const nc = this.nc
    while (nc && this.nc === nc && !this.closing) {
      try {
        await this.prepare(nc, true)
        return
      } catch (cause) {
        if (cause instanceof SyncConfigError) throw cause
        this.report(this.connectionError(`JetStream at ${this.target} did not answer`, cause))
        await this.pause()
      }
    }
  }

  async subscribeDurable(start: StartPosition, hooks: DurableHooks): Promise<void> {
    if (start.kind === 'after') sequenceOf(start.position)
    this.reader?.stop()
    this.reader = new LogReader(this.durable, start, hooks, () => void this.restartReader())
    if (this.nc) await this.activate(this.nc)
  }

  /** `messageId` travels as `Nats-Msg-Id`: a resend within the stream's duplicate window is stored once. */
  async publishDurable(payload: Payload, messageId?: string): Promise<Position> {
    const nc = this.nc
    const jetstream = this.jetstream
    if (!nc || !this.up || jetstream?.nc !== nc) {
      throw new SyncConnectionError(this.target, `Not connected to NATS at ${this.target}`)
    }
    const bytes = checkSize(nc, payload, msgIdHeaderBytes(messageId))
    try {
      return String(await jetstream.acks.publish(this.durable.subject, bytes, messageId))
    } catch (cause) {
      // Failed by down() (the connection went): its error, as it is.
      if (cause instanceof SyncConnectionError) throw cause
      if (cause instanceof MessageTooLarge) throw await this.tooLarge(jetstream, bytes, messageId)
      debug('no PubAck', cause)
      const error = this.connectionError(`JetStream at ${this.target} did not store a message`, cause)
      // No PubAck on a live connection (a cluster electing a stream leader, JetStream restarting):
      // offline until JetStream answers again, so that the core sends the message again.
      if (this.up && this.nc === nc) {
        this.down(error)
        this.report(error)
        void this.activate(nc)
      }
      throw error
    }
  }

  /** The oversize error of a message the stream refused by its `max_msg_size` (set on it by someone). */
  private async tooLarge(
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

  /** Joins `group` (one durable pull consumer on the stream); resolves once the consumer exists. */
  async joinGroup(
    group: string,
    member: string,
    options: GroupOptions,
    onMessage: (message: GroupMessage) => void
  ): Promise<GroupMembership> {
    checkGroup(group, member, options)
    if (this.closing) throw new SyncConnectionError(this.target, 'The NATS adapter is closed')
    const host: GroupHost = {
      settings: this.durable,
      target: this.target,
      api: () => {
        const { jsm, js, nc } = this.api()
        return { jsm, js, flush: () => nc.flush() }
      },
      pause: () => this.pause()
    }
    let joined: (error?: Error) => void = () => undefined
    const ready = new Promise<void>((resolve, reject) => {
      joined = (error) => (error ? reject(error) : resolve())
    })
    const membership = new NatsGroupMember(host, group, { ...options }, onMessage, joined)
    this.members.add(membership)
    try {
      await ready
    } catch (cause) {
      this.members.delete(membership)
      await membership.leave()
      throw cause
    }
    return {
      leave: async () => {
        this.members.delete(membership)
        await membership.leave()
      }
    }
  }

  override async close(): Promise<void> {
    const members = [...this.members]
    this.members.clear()
    await Promise.all(members.map((member) => member.leave()))
    this.reader?.stop()
    this.jetstream?.acks.stop(
      new SyncConnectionError(this.target, 'The NATS adapter closed before JetStream confirmed')
    )
    await super.close()
    this.jetstream = undefined
  }

  protected override get subscribed(): boolean {
    return this.reader !== undefined
  }

  /** Starts reading on `nc` (first subscribe, or a connection that replaced a closed one), then ready. */
  protected override async activate(nc: NatsConnection): Promise<void> {
    while (this.reader && !this.closing && this.nc === nc && !this.up) {
      const epoch = this.epoch
      await this.resubscribe(nc, () => this.nc === nc && !this.closing)
      if (epoch === this.epoch) this.ready()
      else await this.nextWake()
    }
  }

  /** After a reconnect: the stream is checked (a server that kept no data lost it) and reading resumes. */
  protected override async resubscribe(nc: NatsConnection, current: () => boolean): Promise<void> {
    while (current()) {
      try {
        const { resume } = await this.prepare(nc, false)
        debug('resuming: stream checked')
        await this.reader?.start(resume, resume.jetstream())
        debug('resuming: reading again')
        return
      } catch (cause) {
        if (cause instanceof SyncConfigError) this.report(cause)
        else this.report(this.connectionError(`Could not resume reading the JetStream stream`, cause))
        await this.pause()
      }
    }
  }

  /** A status first, then the PubAcks still awaited fail: the core sends those messages again. */
  protected override down(cause: SyncConnectionError): void {
    super.down(cause)
    this.reader?.stop()
    this.jetstream?.acks.failAll(cause)
  }

  /** The consumer vanished while the connection stayed (its server left a cluster): start it again. */
  private async restartReader(): Promise<void> {
    const nc = this.nc
    if (nc && this.up) await this.resubscribe(nc, () => this.nc === nc && this.up && !this.closing)
  }

  /** The connection's JetStream record (made on its first use), once the channel's stream exists. */
  private async prepare(nc: NatsConnection, first: boolean): Promise<JetStream> {
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

  private api(): JetStream {
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

  private pause(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, RETRY_MS)
      void this.nextWake().then(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }
}
