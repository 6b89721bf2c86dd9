import type { Cluster, Redis } from 'ioredis'
import { createDebug } from '../../src/engine/debug'
import type { Adapter, AdapterCapabilities, AdapterHooks, Payload } from '../../src/adapter'
import {
  asRedisValue,
  closeClient,
  createConnections,
  MAX_RETRY_DELAY_MS,
  RETRY_JITTER_MS,
  type RedisClient
} from './clients'
import { Heartbeat, type Watched } from './heartbeat'
import type { RedisSettings } from './options'
import { SlotRecovery, slotMoving } from './slot-recovery'
import { messageOf, RedisStatus } from './status'

const debug = createDebug('feathers-fanout/redis')

const ignore = (): void => undefined

/**
 * Whether a failed command failed because the connection is gone. ioredis still says `ready` for a
 * moment after the server closed the socket (`CLIENT KILL`, its `timeout`, a proxy): the write is then
 * refused with "Stream isn't writeable and enableOfflineQueue options is false". A Cluster stays `ready`
 * while the master serving the channel's slot is dead: its errors say so.
 */
const connectionGone = (client: RedisClient, error: unknown): boolean =>
  client.status !== 'ready' ||
  (!client.isCluster && (client as Redis).stream?.writable === false) ||
  (client.isCluster && slotMoving(error)) ||
  /isn't writeable/.test(messageOf(error))

/**
 * Redis pub/sub: one publisher and one subscriber connection, plain `PUBLISH`/`SUBSCRIBE` on the
 * `key` channel (so feathers-sync 3.x on the same channel interoperates), or `SPUBLISH`/`SSUBSCRIBE`
 * with `sharded`. Subscribes in buffer mode, so text and binary payloads both arrive intact.
 */
export class RedisAdapter extends RedisStatus implements Adapter {
  readonly type = 'redis'
  readonly capabilities: AdapterCapabilities = { broadcast: true, durable: false }
  // Two instances retry at most MAX_RETRY_DELAY_MS + RETRY_JITTER_MS apart (the adapter's
  // retryStrategy): plus a margin of half a second.
  readonly resumeDelayMs = MAX_RETRY_DELAY_MS + RETRY_JITTER_MS + 500
  protected readonly pub: RedisClient
  protected readonly sub: RedisClient
  private readonly ownsPub: boolean
  private onMessage: ((payload: Payload) => void) | undefined
  private subscribing = false
  private retryTimer: NodeJS.Timeout | undefined
  private retries = 0
  private heartbeat: Heartbeat | undefined
  private slotRecovery: SlotRecovery | undefined

  constructor(settings: RedisSettings) {
    super(settings)
    // Lazy clients: nothing connects before `connect()`, but bad ioredis options fail at configure time.
    const { pub, sub, ownsPub } = createConnections(settings)
    this.pub = pub
    this.sub = sub
    this.ownsPub = ownsPub
  }

  async connect(hooks: AdapterHooks): Promise<void> {
    this.hooks = hooks
    const { pub, sub, ownsPub } = this
    // ioredis only stays quiet about errors while someone listens; ours must never reach the console.
    sub.on('error', ignore)
    if (ownsPub) pub.on('error', ignore)
    this.watch(pub, 'pub')
    this.watch(sub, 'sub')
    this.listen(sub, this.settings.sharded ? 'smessageBuffer' : 'messageBuffer', this.receive)
    this.listen(sub, 'ready', () => this.subscriberReady())
    this.listen(sub, 'close', () => this.subscriberLost())
    this.pubReady = pub.status === 'ready'
    this.startHeartbeat()
    if (pub.status === 'end') this.problem(new Error('the redisClient given has been closed'))
    // Failures arrive as `error` events and ioredis keeps retrying, so the promises are not needed.
    if (pub.status === 'wait') pub.connect().catch(ignore)
    sub.connect().catch(ignore)
    await this.until(() => this.pubReady)
  }

  async subscribe(onMessage: (payload: Payload) => void): Promise<void> {
    this.onMessage = onMessage
    this.resubscribe()
    await this.untilUp()
  }

  publish(payload: Payload): Promise<void> {
    const { pub } = this
    const { channel, sharded } = this.settings
    const message = asRedisValue(payload)
    const sent = sharded ? pub.spublish(channel, message) : pub.publish(channel, message)
    return sent.then(ignore, this.publishFailed)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.retryTimer)
    this.heartbeat?.stop()
    this.slotRecovery?.stop()
    this.settle()
    for (const [client, event, listener] of this.attached.splice(0)) client.off(event, listener)
    const { pub, sub, ownsPub } = this
    await Promise.all([closeClient(sub), ownsPub ? closeClient(pub) : undefined])
  }

  // The subscriber connection is the adapter's own and carries this one channel, so no channel check
  // (with a `keyPrefix`, ioredis prefixes sharded channels, and the name would not match `key` anyway).
  private readonly receive = (_channel: Buffer, message: Buffer): void => {
    this.onMessage?.(message)
  }

  /** The subscriber connection is (back) up. */
  protected subscriberReady(): void {
    this.resubscribe()
  }

  /** The subscriber connection was lost (the `watch` listener already marked it inactive). */
  protected subscriberLost(): void {}

  private resubscribe(): void {
    const { sub, settings } = this
    if (this.closed || this.onMessage === undefined || this.subscribing || sub.status !== 'ready') return
    this.subscribing = true
    const request = settings.sharded ? sub.ssubscribe(settings.channel) : sub.subscribe(settings.channel)
    request.then(
      () => {
        this.subscribing = false
        this.retries = 0
        this.subActive = sub.status === 'ready'
        debug('subscribed to %s at %s', settings.channel, this.target)
        this.update()
      },
      (error: unknown) => {
        this.subscribing = false
        this.problem(error)
        if (this.closed) return
        // e.g. an ACL without the channel: try again later, without a tight loop.
        this.retryTimer = setTimeout(() => this.resubscribe(), Math.min(100 * 2 ** this.retries++, 5_000))
        this.retryTimer.unref()
      }
    )
  }

  /**
   * PINGs both connections. In durable mode the subscriber blocks in XREAD, where a PING would wait
   * behind it: only the publisher is PINGed then, and the reader bounds its reads (see ./reader.ts).
   */
  private startHeartbeat(): void {
    const { intervalMs, timeoutMs } = this.settings.heartbeat
    const watched: Watched[] = [{ client: this.pub, role: 'pub', owned: this.ownsPub }]
    if (this.settings.durable === undefined) watched.push({ client: this.sub, role: 'sub', owned: true })
    this.heartbeat = new Heartbeat(watched, intervalMs, timeoutMs, {
      missed: (role, cause) => this.connectionHung(role, cause),
      answered: (role) => {
        // The user's publisher, marked hung, is back once it answers; the adapter's own reconnect. On a
        // Cluster whose slot is moving, any node answers a PING: the slot recovery says when it is back.
        if (role === 'pub' && !this.pubReady && this.pub.status === 'ready' && !this.slotRecovery?.active) {
          this.pubReady = true
          this.update()
        }
      }
    })
    this.heartbeat.start()
  }

  /**
   * A publish that fails because the connection is gone goes back to the core's outbox, and so does one
   * Redis did not answer within the heartbeat timeout (a hung server). ioredis refuses commands ("Stream
   * isn't writeable") as soon as its socket has ended, while its status still says `ready` until the
   * `close` event: that counts as gone too, or the core would take the refusal for a failed publish.
   */
  protected readonly publishFailed = (error: unknown): never => {
    if (
      connectionGone(this.pub, error) ||
      (error instanceof Error && error.message === 'Command timed out')
    ) {
      this.publisherLost(error)
    }
    throw error
  }

  /**
   * The publisher's connection, or on a Cluster the node serving the channel's slot, is gone: publishes
   * wait in the outbox until it is back (on a Cluster, until the slot answers again).
   */
  protected publisherLost(error: unknown, reason?: string): void {
    this.pubReady = false
    this.pauseReason = reason
    // Told again even if already told: the core may have missed it during startup.
    this.reported = undefined
    this.lastError = error
    this.update()
    if (this.pub.isCluster && this.pub.status === 'ready') this.recoverSlot()
  }

  /** The publisher can publish again (after {@link publisherLost}: its slot answers, its script is back). */
  protected publisherBack(): void {
    this.pubReady = this.pub.status === 'ready'
    this.update()
  }

  /** A command routed to the channel's slot, sent once a Cluster's slot seems back (see ./slot-recovery.ts). */
  protected probeSlot(): Promise<unknown> {
    return this.pub.ping()
  }

  /** Publishes wait in the outbox until the node serving the channel's slot answers again. */
  private recoverSlot(): void {
    this.slotRecovery ??= new SlotRecovery(
      this.pub as Cluster,
      () => this.probeSlot(),
      () => this.publisherBack(),
      (error) => this.problem(error)
    )
    this.slotRecovery.start()
  }
}
