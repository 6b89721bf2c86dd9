import { createHash } from 'node:crypto'
import { createDebug } from '../../src/engine/debug'
import {
  AckPolicy,
  DeliverPolicy,
  ErrorCode,
  NatsError,
  nanos,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg
} from 'nats'
import type { GroupMembership, GroupMessage, GroupOptions } from '../../src/adapter'
import { SyncConfigError, SyncConnectionError, SyncGroupError, type SyncError } from '../../src/errors'
import type { NatsDurableSettings } from './durable-options'
import { bytesOf } from './durable-reader'

const debug = createDebug('feathers-fanout/nats')

/** How long one pull request waits for messages before the next one is sent (ms; 1000 at least). */
const PULL_EXPIRES_MS = 5_000
// JetStream API error code (nats-server's server/errors.json).
const CONSUMER_NOT_FOUND = 10014

/** What a member needs from the adapter: the JetStream API of the live connection, and a way to wait. */
export interface GroupHost {
  settings: NatsDurableSettings
  target: string
  /** The live connection's JetStream API; throws a SyncConnectionError while there is none. */
  api(): { jsm: JetStreamManager; js: JetStreamClient; flush(): Promise<void> }
  /** Resolves after a short pause, or sooner when the connection comes back. */
  pause(): Promise<void>
  /** Tells the app (`sync-error`, once per distinct message) that the member cannot pull. */
  report(error: SyncError): void
}

/**
 * The durable consumer of `group` on the channel's stream: only `[A-Za-z0-9_-]` (a consumer name may not
 * hold `.`, `*`, `>`, spaces or path separators), with a hash of the whole name so that `a.b` and `a_b`
 * stay apart. E.g. `mailer` → `group_mailer_5b0e5f2d8c`.
 */
export function consumerName(group: string): string {
  const readable = group.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64)
  return `group_${readable}_${createHash('sha256').update(group).digest('hex').slice(0, 10)}`
}

/**
 * One member of a consumer group on NATS JetStream. The group is one durable pull consumer (explicit
 * acks, `ack_wait` = claimAfterMs) created at the stream's tail (`deliver_policy: new`) by the first
 * member; every member pulls from it, so JetStream hands each message to one of them and, when it is not
 * acknowledged within ack_wait, again to whichever member pulls next. A member asks for at most
 * `prefetch` minus what it holds unacknowledged, so it never holds more than `prefetch`. While it holds a
 * message (its handler runs, or waits to retry) it tells JetStream it is still working on it (`+WPI`, which
 * starts ack_wait over) every `claimAfterMs / 2`, so a live member's slow handler keeps its message; a
 * member that died, hangs or left sends none, and what it held goes to another member after ack_wait.
 * After a lost connection (or a consumer gone with a server that kept no data) it sets the consumer up
 * again and pulls on.
 */
export class NatsGroupMember implements GroupMembership {
  readonly consumer: string
  /** Messages handed over and not yet acked or nacked. */
  private readonly held = new Set<JsMsg>()
  private readonly progress: NodeJS.Timeout
  private left = false
  private batch: ConsumerMessages | undefined
  private roomWaiters: (() => void)[] = []
  private readonly running: Promise<void>

  constructor(
    private readonly host: GroupHost,
    readonly group: string,
    private readonly options: GroupOptions,
    private readonly onMessage: (message: GroupMessage) => void,
    /** Told once the consumer exists and the first pull is sent (or joining failed for good). */
    private readonly joined: (error?: Error) => void
  ) {
    this.consumer = consumerName(group)
    // Half of ack_wait: each +WPI starts ack_wait over, so one that is late (a busy event loop, a slow
    // socket) or lost (it is a plain publish, unconfirmed) still leaves the next one in time.
    this.progress = setInterval(() => this.working(), Math.max(50, options.claimAfterMs / 2))
    this.progress.unref()
    this.running = this.run()
  }

  async leave(): Promise<void> {
    this.left = true
    // What it holds stays unacknowledged: another member takes it after ack_wait.
    clearInterval(this.progress)
    this.held.clear()
    this.batch?.stop()
    this.wakeRoom()
    await this.running
  }

  private async run(): Promise<void> {
    let first = true
    while (!this.left) {
      try {
        const { jsm, js } = this.host.api()
        await this.ensureConsumer(jsm, first)
        const consumer = await js.consumers.get(this.host.settings.stream, this.consumer)
        if (first) this.joined()
        first = false
        await this.pull(consumer)
      } catch (cause) {
        if (this.left) break
        debug(`group ${this.group}: pulling failed, trying again`, cause)
        // Without a connection there is nothing to say beyond the instance's status; with one, a member
        // that cannot set up or pull from the group's consumer (a permission, a JetStream limit) says so.
        const failure = this.connected() ? this.failure(cause) : undefined
        // Joining fails at once for what a retry will not mend; a JetStream API timeout is tried again.
        const timedOut = cause instanceof NatsError && cause.code === ErrorCode.Timeout
        if (first && failure && !timedOut) return this.joined(failure)
        if (failure) this.host.report(failure)
        await this.host.pause()
      }
    }
  }

  private connected(): boolean {
    try {
      this.host.api()
      return true
    } catch {
      return false
    }
  }

  private failure(cause: unknown): SyncError {
    if (cause instanceof SyncConfigError) return cause
    const why = cause instanceof Error ? cause.message : String(cause)
    const text = `Consumer group "${this.group}" could not use its JetStream consumer ${this.consumer} at ${this.host.target} (${why})`
    return new SyncGroupError(this.group, text, { cause })
  }

  /** Pulls until the member leaves or pulling fails (lost connection, deleted consumer). */
  private async pull(consumer: Awaited<ReturnType<JetStreamClient['consumers']['get']>>): Promise<void> {
    while (!this.left) {
      await this.room()
      if (this.left) return
      const batch = await consumer.fetch({
        max_messages: this.options.prefetch - this.held.size,
        expires: PULL_EXPIRES_MS
      })
      this.batch = batch
      if (this.left) batch.stop()
      for await (const msg of batch) this.hand(msg)
    }
  }

  /** Creates the group's consumer at the stream's tail, or finds it (another member created it). */
  private async ensureConsumer(jsm: JetStreamManager, first: boolean): Promise<void> {
    const { stream, subject } = this.host.settings
    const ackWait = nanos(this.options.claimAfterMs)
    try {
      const info = await jsm.consumers.info(stream, this.consumer)
      // The app asked for this claim time: a member joining (not one reconnecting) makes it so.
      if (first && info.config.ack_wait !== ackWait) {
        await jsm.consumers.update(stream, this.consumer, { ack_wait: ackWait })
      }
      return
    } catch (cause) {
      if (!(cause instanceof NatsError) || cause.api_error?.err_code !== CONSUMER_NOT_FOUND) throw cause
    }
    debug(`creating the consumer ${this.consumer} of group ${this.group}`)
    // The same configuration from every member: JetStream answers a second create with the first one.
    await jsm.consumers.add(stream, {
      durable_name: this.consumer,
      filter_subject: subject,
      deliver_policy: DeliverPolicy.New,
      ack_policy: AckPolicy.Explicit,
      ack_wait: ackWait,
      max_deliver: -1,
      // Each member bounds itself by its prefetch; this only caps the whole group.
      max_ack_pending: -1,
      num_replicas: this.host.settings.replicas
    })
  }

  private hand(msg: JsMsg): void {
    this.held.add(msg)
    let settled = false
    const settle = (): boolean => {
      if (settled) return false
      settled = true
      this.held.delete(msg)
      this.wakeRoom()
      return true
    }
    const message: GroupMessage = {
      payload: bytesOf(msg),
      position: String(msg.seq),
      deliveries: msg.info.deliveryCount,
      ack: async () => {
        if (!settle()) return
        // ackAck: resolves once the server answered that it recorded the ack.
        const recorded = await msg.ackAck().catch((cause: unknown) => {
          throw new SyncConnectionError(this.host.target, `The ack of ${msg.seq} was not confirmed`, {
            cause
          })
        })
        if (!recorded) {
          throw new SyncConnectionError(this.host.target, `JetStream did not record the ack of ${msg.seq}`)
        }
      },
      nack: async (delayMs) => {
        if (!settle()) return
        msg.nak(delayMs > 0 ? delayMs : undefined)
        await this.host.api().flush()
      }
    }
    try {
      this.onMessage(message)
    } catch (cause) {
      debug(`group ${this.group}: the message handler threw`, cause)
    }
  }

  /** Resolves once the member holds fewer than `prefetch` (or leaves). */
  private room(): Promise<void> {
    if (this.held.size < this.options.prefetch || this.left) return Promise.resolve()
    return new Promise<void>((resolve) => this.roomWaiters.push(resolve))
  }

  /** Tells JetStream this member still works on what it holds (`+WPI`: ack_wait starts over). */
  private working(): void {
    for (const msg of this.held) {
      try {
        msg.working()
      } catch (cause) {
        // A closed or draining connection refuses publishes: what it held is redelivered after ack_wait.
        debug(`group ${this.group}: the progress of ${msg.seq} was not sent`, cause)
      }
    }
  }

  private wakeRoom(): void {
    const waiters = this.roomWaiters
    this.roomWaiters = []
    waiters.forEach((resolve) => resolve())
  }
}
