import type {
  AdapterCapabilities,
  DurableHooks,
  DurableLog,
  Position,
  StartPosition
} from '../../src/adapter'
import { SyncConfigError, SyncConnectionError } from '../../src/errors'
import type { Payload } from '../../src/adapter'
import { asRedisValue, type RedisClient } from './clients'
import type { RedisSettings } from './options'
import {
  checkPosition,
  compareIds,
  EMPTY_STREAM,
  nextId,
  parseStreamInfo,
  type StreamInfo
} from './positions'
import { RedisAdapter } from './pubsub'
import { decodeEntries, PAYLOAD_FIELD, StreamReader, type RawEntry } from './reader'
import type { RedisDurableSettings } from './retention'

const isMissingKey = (error: unknown): boolean => error instanceof Error && /no such key/i.test(error.message)

/**
 * Durable delivery on a Redis stream (`XADD`, `XREAD`, `XRANGE`, `XTRIM`, `XINFO STREAM`, `SET`, `GET`,
 * all documented by DragonFly too). Positions are entry ids. Publishes trim by count with every
 * `XADD … MAXLEN ~`, and by age with `XTRIM … MINID ~` at most once per `trimIntervalMs`. The
 * subscription blocks in `XREAD` on the subscriber connection, which carries nothing else.
 */
export class DurableRedisAdapter extends RedisAdapter implements DurableLog {
  override readonly capabilities: AdapterCapabilities = { broadcast: true, durable: true }
  private reader: StreamReader | undefined
  private nextAgeTrim = 0

  constructor(
    settings: RedisSettings,
    private readonly durable: RedisDurableSettings
  ) {
    super(settings)
  }

  async publishDurable(payload: Payload): Promise<Position> {
    const { pub } = this
    const { stream, maxMessages } = this.durable
    const value = asRedisValue(payload)
    const id = await pub
      .xadd(stream, 'MAXLEN', '~', maxMessages, '*', PAYLOAD_FIELD, value)
      .then((reply) => reply ?? '', this.publishFailed)
    this.trimByAge()
    return id
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
        keeps: this.durable.maxMessages
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
    this.subActive = this.sub.status === 'ready'
    this.update()
  }

  /** Retention may move past the reader while its connection is down: check the next batch for a gap. */
  protected override subscriberLost(): void {
    this.reader?.markSuspect()
  }

  async readRange(after: Position, limit: number): Promise<{ payload: Payload; position: Position }[]> {
    checkPosition(after, 'after')
    if (!Number.isSafeInteger(limit) || limit <= 0) {
      throw new SyncConfigError(
        'limit',
        `"limit" must be a positive whole number, got ${JSON.stringify(limit)}`
      )
    }
    const { pub } = this
    const entries: RawEntry[] = await pub
      .xrangeBuffer(this.durable.stream, nextId(after), '+', 'COUNT', limit)
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

  override async close(): Promise<void> {
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
      if (isMissingKey(error)) return EMPTY_STREAM
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
