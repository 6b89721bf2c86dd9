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
import { SyncConfigError } from '../../src/errors'
import type { Payload } from '../../src/adapter'
import { asRedisValue, duplicateForSubscribing } from './clients'
import { RedisGroupMember } from './group'
import { checkPosition, compareIds, nextId } from './positions'
import { DurableRedisPublisher } from './durable-publish'
import { decodeEntries, PAYLOAD_FIELD, type RawEntry } from './entries'
import { StreamReader } from './reader'

/** Dead letters kept per group in Redis, roughly (`MAXLEN ~`). */
const DEAD_LETTERS_KEPT = 10_000

/**
 * Durable delivery on a Redis stream (`XADD`, `XREAD`, `XRANGE`, `XTRIM`, `XINFO STREAM`, `SET`, `GET`,
 * all documented by DragonFly too). Positions are entry ids. Publishes trim by count with every
 * `XADD … MAXLEN ~`, and by age with `XTRIM … MINID ~` at most once per `trimIntervalMs`. The
 * subscription blocks in `XREAD` on the subscriber connection, which carries nothing else.
 */
export class DurableRedisAdapter extends DurableRedisPublisher implements DurableLog, GroupLog {
  override readonly capabilities: AdapterCapabilities = { broadcast: true, durable: true, group: true }
  private readonly members = new Set<RedisGroupMember>()
  private reader: StreamReader | undefined

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
}
