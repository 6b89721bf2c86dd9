import type {
  AdapterCapabilities,
  DurableHooks,
  DurableLog,
  GroupLog,
  GroupMembership,
  GroupMessage,
  GroupOptions,
  Position,
  StartPosition,
  StoredDeadLetter
} from '../../src/adapter'
import { SyncConfigError, SyncConnectionError } from '../../src/errors'
import type { AdapterHooks, Payload } from '../../src/adapter'
import { Appender, loadAppendScript, scriptMissed } from './append'
import { asRedisValue, duplicateForSubscribing, type RedisClient } from './clients'
import { ConfirmedTail } from './confirmed'
import { RedisGroupMember } from './group'
import type { RedisSettings } from './options'
import {
  checkPosition,
  compareIds,
  MISSING_STREAM,
  nextId,
  parseStreamInfo,
  type StreamInfo
} from './positions'
import { RedisAdapter } from './pubsub'
import { decodeEntries, GAP_FIELD, PAYLOAD_FIELD, type RawEntry } from './entries'
import { StreamReader } from './reader'
import type { RedisDurableSettings } from './retention'

/** Dead letters kept per group in Redis, roughly (`MAXLEN ~`). */
const DEAD_LETTERS_KEPT = 10_000

const isMissingKey = (error: unknown): boolean => error instanceof Error && /no such key/i.test(error.message)

/**
 * Durable delivery on a Redis stream (`XADD`, `XREAD`, `XRANGE`, `XTRIM`, `XINFO STREAM`, `SET`, `GET`,
 * all documented by DragonFly too). Positions are entry ids. Publishes trim by count with every
 * `XADD … MAXLEN ~`, and by age with `XTRIM … MINID ~` at most once per `trimIntervalMs`. The
 * subscription blocks in `XREAD` on the subscriber connection, which carries nothing else.
 */
export class DurableRedisAdapter extends RedisAdapter implements DurableLog, GroupLog {
  override readonly capabilities: AdapterCapabilities = { broadcast: true, durable: true, group: true }
  private readonly members = new Set<RedisGroupMember>()
  private reader: StreamReader | undefined
  private nextAgeTrim = 0
  private readonly confirmed = new ConfirmedTail()
  private readonly appender: Appender
  /** A `NOSCRIPT` (or a refusal after one) was met: publishing waits until the script is loaded again. */
  private reloading = false

  constructor(
    settings: RedisSettings,
    private readonly durable: RedisDurableSettings
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
  private readonly preload = (): void => {
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

  private readonly nodeLeft = (): void => {
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

  async subscribeDurable(start: StartPosition, hooks: DurableHooks): Promise<void> {
    if (this.reader) {
      throw new SyncConfigError('subscribeDurable', 'The durable subscription is already open')
    }
    const after = start.kind === 'after' ? checkPosition(start.position, 'start.position') : undefined
    if (start.kind !== 'tail' && start.kind !== 'head' && after === undefined) {
      throw new SyncConfigError(
        'start',
        `Unknown start kind ${JSON.stringify((start as { kind: unknown }).kind)}`
      )
    }
    // Tail: the id of the newest entry now, so whatever is added from here on is read, none before.
    const last = after ?? (start.kind === 'head' ? '0-0' : (await this.info(this.sub)).lastGeneratedId)
    if (this.closed) return
    const reader = new StreamReader(
      {
        client: this.sub,
        stream: this.durable.stream,
        info: () => this.info(this.sub),
        problem: (error) => this.problem(error),
        badEntry: (error) => this.hooks?.error(error),
        reset: (error) => this.hooks?.error(error),
        restoresLost: this.pub.isCluster,
        keeps: this.durable.maxMessages,
        heartbeat: this.settings.heartbeat,
        hung: (cause) => {
          this.connectionHung('sub', cause)
          this.reader?.markSuspect()
          this.sub.disconnect(true)
        }
      },
      hooks,
      last,
      after !== undefined
    )
    this.reader = reader
    reader.start()
    this.subscriberReady()
    await this.untilUp()
  }

  /** The reader blocks on `sub`: once it runs, the subscription is active whenever `sub` is up. */
  protected override subscriberReady(): void {
    if (this.reader === undefined) return super.subscriberReady()
    this.reader.connectionUp()
    this.subActive = this.sub.status === 'ready'
    this.update()
  }

  /** Retention may move past the reader while its connection is down: check the next batch for a gap. */
  protected override subscriberLost(): void {
    this.reader?.markSuspect()
  }

  async readRange(
    after: Position,
    limit: number,
    inclusive = false
  ): Promise<{ payload: Payload; position: Position }[]> {
    checkPosition(after, 'after')
    if (!Number.isSafeInteger(limit) || limit <= 0) {
      throw new SyncConfigError(
        'limit',
        `"limit" must be a positive whole number, got ${JSON.stringify(limit)}`
      )
    }
    const { pub } = this
    const entries: RawEntry[] = await pub
      .xrangeBuffer(this.durable.stream, inclusive ? after : nextId(after), '+', 'COUNT', limit)
      .catch(this.failed('read the stream'))
    return decodeEntries(entries, (error) => this.hooks?.error(error)).flatMap(({ payload, position }) =>
      payload === undefined ? [] : [{ payload, position }]
    )
  }

  async lastPosition(): Promise<Position | undefined> {
    return (await this.info(this.pub)).lastEntryId
  }

  async firstPosition(): Promise<Position | undefined> {
    return (await this.info(this.pub)).firstEntryId
  }

  async savePosition(name: string, position: Position): Promise<void> {
    checkPosition(position, 'position')
    await this.pub.set(this.positionKey(name), position).catch(this.failed('save a position'))
  }

  async loadPosition(name: string): Promise<Position | undefined> {
    const value = await this.pub.get(this.positionKey(name)).catch(this.failed('load a position'))
    return value === null ? undefined : checkPosition(value, `stored position of "${name}"`)
  }

  comparePositions(a: Position, b: Position): number {
    return compareIds(a, b)
  }

  /** A member of the stream consumer group `group` on a connection of its own (see ./group.ts). */
  async joinGroup(
    group: string,
    member: string,
    options: GroupOptions,
    onMessage: (message: GroupMessage) => void
  ): Promise<GroupMembership> {
    const link = {
      pub: this.pub,
      stream: this.durable.stream,
      problem: (error: unknown) => this.problem(error),
      badEntry: (error: Parameters<NonNullable<typeof this.hooks>['error']>[0]) => this.hooks?.error(error)
    }
    const connection = duplicateForSubscribing(this.pub, false)
    const joined = new RedisGroupMember(link, connection, group, member, options, onMessage)
    try {
      await joined.start()
    } catch (error) {
      await joined.leave()
      return this.failed(`join consumer group "${group}"`)(error)
    }
    this.members.add(joined)
    return {
      leave: async () => {
        this.members.delete(joined)
        await joined.leave()
      },
      lag: () => joined.lag()
    }
  }

  /** Keeps a dead letter in the capped stream `{key}:dead:<group>` (the newest `DEAD_LETTERS_KEPT`). */
  async storeDeadLetter(group: string, letter: StoredDeadLetter): Promise<void> {
    const { id, payload, position, attempts, reason } = letter
    await this.pub
      .xadd(
        this.deadLetterStream(group),
        'MAXLEN',
        '~',
        DEAD_LETTERS_KEPT,
        '*',
        'id',
        id,
        PAYLOAD_FIELD,
        asRedisValue(payload),
        'position',
        position ?? '',
        'attempts',
        attempts,
        'reason',
        reason
      )
      .catch(this.failed('store a dead letter'))
  }

  /** `{<key>}:dead:<group>`: beside the log, in its hash slot. */
  deadLetterStream(group: string): string {
    return this.durable.stream.replace(/:log$/, `:dead:${group}`)
  }

  override async close(): Promise<void> {
    this.pub.off('-node', this.nodeLeft)
    this.pub.off('ready', this.preload)
    await Promise.all([...this.members].map((member) => member.leave()))
    this.members.clear()
    this.reader?.stop()
    await super.close()
  }

  private positionKey(name: string): string {
    if (typeof name !== 'string' || name === '') {
      throw new SyncConfigError(
        'consumerName',
        `A consumer name must be a non-empty string, got ${JSON.stringify(name)}`
      )
    }
    return this.durable.positionPrefix + name
  }

  private async info(client: RedisClient): Promise<StreamInfo> {
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

  private failed(what: string): (error: unknown) => never {
    return (error) => {
      const message = error instanceof Error ? error.message : String(error)
      throw new SyncConnectionError(this.target, `Could not ${what} at ${this.target}: ${message}`, {
        cause: error
      })
    }
  }
}
