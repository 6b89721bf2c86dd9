import { createDebug } from '../../src/engine/debug'
import type { NatsConnection } from 'nats'
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
import { SyncConfigError, SyncConnectionError } from '../../src/errors'
import type { Payload } from '../../src/adapter'
import { LogReader, sequenceOf } from './durable-reader'
import { checkGroup } from '../group-options'
import { NatsGroupMember, type GroupHost } from './group'
import { NatsJetStreamLog } from './durable-log'
import { MessageTooLarge, msgIdHeaderBytes } from './pubacks'
import { checkSize } from './reason'

const debug = createDebug('feathers-fanout/nats')

/** How long to wait before trying JetStream again when it did not answer on a live connection. */
const RETRY_MS = 250

/**
 * NATS with durable delivery: the channel's events go to a JetStream stream (see durable-stream.ts) and
 * each instance reads it with its own ephemeral consumer from a position (see LogReader). Connection
 * handling, status and reconnecting are the pub/sub adapter's; this class only swaps what "subscribed"
 * means and how a publish is confirmed (the stream's PubAck instead of a flush).
 */
export class NatsDurableAdapter extends NatsJetStreamLog implements DurableLog, GroupLog {
  override readonly capabilities: AdapterCapabilities = { broadcast: true, durable: true, group: true }
  private reader: LogReader | undefined
  /** Consumer group members joined through this adapter (see group.ts). */
  private readonly members = new Set<NatsGroupMember>()

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
      pause: () => this.pause(),
      report: (error) => this.report(error)
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
