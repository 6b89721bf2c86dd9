/**
 * The publishing side of the durable Redis adapter: appends through the script (./append.ts) and loads
 * it again when Redis lost it, stores again on a Cluster what a failover lost (./confirmed.ts), trims
 * the stream by age, and reads `XINFO STREAM` for both sides.
 */
import type { AdapterHooks, Payload, Position } from '../../src/adapter'
import { SyncConnectionError } from '../../src/errors'
import { Appender, loadAppendScript, scriptMissed } from './append'
import { asRedisValue, type RedisClient } from './clients'
import { ConfirmedTail } from './confirmed'
import { GAP_FIELD, PAYLOAD_FIELD } from './entries'
import type { RedisSettings } from './options'
import { MISSING_STREAM, parseStreamInfo, type StreamInfo } from './positions'
import { RedisAdapter } from './pubsub'
import type { RedisDurableSettings } from './retention'

const isMissingKey = (error: unknown): boolean => error instanceof Error && /no such key/i.test(error.message)

/** Publishes to the stream; the subscription, positions and groups are ./durable.ts's. */
export abstract class DurableRedisPublisher extends RedisAdapter {
  private nextAgeTrim = 0
  private readonly confirmed = new ConfirmedTail()
  private readonly appender: Appender
  /** A `NOSCRIPT` (or a refusal after one) was met: publishing waits until the script is loaded again. */
  private reloading = false

  constructor(
    settings: RedisSettings,
    protected readonly durable: RedisDurableSettings
  ) {
    super(settings)
    this.appender = new Appender(durable)
  }

  /** Stores the message once per `messageId` (see ./append.ts); undefined for a resend of an older one. */
  async publishDurable(payload: Payload, messageId?: string): Promise<Position | undefined> {
    const value = asRedisValue(payload)
    const id = await this.appender
      .append(this.pub, value, messageId)
      .then((reply) => reply ?? undefined, this.appendFailed)
    if (id !== undefined && this.pub.isCluster) this.confirmed.add(id, value)
    this.trimByAge()
    return id
  }

  /** On a Cluster, a node that leaves (a master killed, a failover) may have held the stream's slot. */
  override async connect(hooks: AdapterHooks): Promise<void> {
    if (this.pub.isCluster) {
      this.pub.on('-node', this.nodeLeft)
    }
    // Before the adapter's own `ready` listener says the publisher is up: the script is loaded first.
    this.pub.prependListener('ready', this.preload)
    if (this.pub.status === 'ready') this.preload()
    await super.connect(hooks)
  }

  /**
   * Loads the script on every (re)connect, so that a restarted server rarely answers `NOSCRIPT`, and
   * starts a new chain: what was sent before the connection was lost may not have been stored, and a
   * first publish naming it would be refused as out of step (a pause reported as a lost script). The
   * producer record still drops resends, and what follows goes in order on the one connection.
   */
  protected readonly preload = (): void => {
    this.appender.restart()
    loadAppendScript(this.pub).then(
      () => {
        // A reload cut short by the lost connection is done too: a later `NOSCRIPT` starts another.
        this.reloading = false
      },
      (error: unknown) => this.problem(error)
    )
  }

  /**
   * The script was not run (see ./append.ts): publishing stops as for a lost connection, so the core
   * takes back every publish in flight; once the script is loaded again it resends them in order.
   */
  private readonly appendFailed = (error: unknown): never => {
    if (!scriptMissed(error) || this.closed) return this.publishFailed(error)
    if (!this.reloading) {
      this.reloading = true
      this.appender.restart()
      // On a Cluster, the slot recovery loads it (see probeSlot) and then says the publisher is back.
      this.publisherLost(
        error,
        'the server no longer has the append script (NOSCRIPT: a restart, a failover or SCRIPT FLUSH); ' +
          'loading it again, then what waits is sent in order'
      )
      if (!this.pub.isCluster) {
        // Sent behind the publishes in flight: by its reply, each of them has been answered.
        loadAppendScript(this.pub).then(
          () => this.scriptLoaded(),
          (cause: unknown) => {
            this.reloading = false
            this.problem(cause)
          }
        )
      }
    }
    throw error
  }

  /** The script is loaded again: the next publish starts a new chain (see Appender.restart). */
  private scriptReady(): void {
    this.reloading = false
    this.appender.restart()
  }

  private scriptLoaded(): void {
    this.scriptReady()
    this.publisherBack()
  }

  protected readonly nodeLeft = (): void => {
    if (!this.closed) this.publisherLost(new Error('a node of the Redis Cluster left'))
  }

  /**
   * On a Cluster, once the master serving the stream's slot answers again: what it lost of this
   * instance's confirmed publishes (asynchronous replication) is stored again, before anything newer.
   */
  protected override async probeSlot(): Promise<unknown> {
    const { stream, maxMessages } = this.durable
    // Routed to the stream's slot: fails until its new master answers.
    const { firstEntryId } = await this.info(this.pub)
    await loadAppendScript(this.pub)
    this.scriptReady()
    const { restored, incomplete } = await this.confirmed.recover(
      this.pub,
      stream,
      firstEntryId,
      (value) => this.store(value),
      () => this.pub.xadd(stream, 'MAXLEN', '~', maxMessages, '*', GAP_FIELD, '')
    )
    if (restored > 0 || incomplete) {
      const older = incomplete ? '; older ones, no longer kept, may be lost too (a gap is reported)' : ''
      const text = `Redis at ${this.target} lost ${restored} confirmed publishes in a failover; stored them again${older}`
      this.hooks?.error(new SyncConnectionError(this.target, text))
    }
    return restored
  }

  private async store(value: string | Buffer): Promise<Position> {
    const { stream, maxMessages } = this.durable
    const reply = await this.pub.xadd(stream, 'MAXLEN', '~', maxMessages, '*', PAYLOAD_FIELD, value)
    return reply ?? ''
  }

  protected async info(client: RedisClient): Promise<StreamInfo> {
    try {
      return parseStreamInfo(await client.xinfo('STREAM', this.durable.stream))
    } catch (error) {
      // Not an empty stream: the reader tells the two apart (see ./reset.ts).
      if (isMissingKey(error)) return MISSING_STREAM
      return this.failed('read the stream info')(error)
    }
  }

  // Not on every publish: MINID only has work to do once entries have aged, and one instance trimming
  // now and then is enough (each instance does, so it happens as long as anyone publishes).
  private trimByAge(): void {
    const now = Date.now()
    if (now < this.nextAgeTrim) return
    this.nextAgeTrim = now + this.durable.trimIntervalMs
    const { stream, maxAgeMs } = this.durable
    this.pub.xtrim(stream, 'MINID', '~', `${now - maxAgeMs}-0`).catch((error: unknown) => {
      this.problem(error)
    })
  }

  protected failed(what: string): (error: unknown) => never {
    return (error) => {
      const message = error instanceof Error ? error.message : String(error)
      throw new SyncConnectionError(this.target, `Could not ${what} at ${this.target}: ${message}`, {
        cause: error
      })
    }
  }
}
