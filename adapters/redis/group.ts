import type { GroupMembership, GroupMessage, GroupOptions, Position } from '../../src/adapter'
import type { SyncMessageError } from '../../src/errors'
import { closeClient, type RedisClient } from './clients'
import { Pause } from './pause'
import { decodeEntries, type RawEntry } from './entries'

/** What a member needs from the adapter that opened it. */
export interface GroupLink {
  /** The adapter's command connection: acks, claims, pending counts. */
  readonly pub: RedisClient
  readonly stream: string
  /** A driver error, reported once per kind by the adapter. */
  problem(error: unknown): void
  /** An entry without a payload (written by something else): acked and skipped. */
  badEntry(error: SyncMessageError): void
}

/** `XREADGROUP` blocks at most this long, so a member also claims on time when the stream is idle (ms). */
const MAX_BLOCK_MS = 2_000
const MAX_RETRY_DELAY_MS = 5_000

type AutoClaim = (...args: (string | number)[]) => Promise<unknown>

const isBusyGroup = (error: unknown): boolean => error instanceof Error && /BUSYGROUP/.test(error.message)
const isNoGroup = (error: unknown): boolean => error instanceof Error && /NOGROUP/.test(error.message)

/** `XGROUP CREATE <stream> <group> $ MKSTREAM`: at the log's tail, once; later members share it. */
export async function createGroup(client: RedisClient, stream: string, group: string): Promise<void> {
  try {
    await client.xgroup('CREATE', stream, group, '$', 'MKSTREAM')
  } catch (error) {
    if (!isBusyGroup(error)) throw error
  }
}

/**
 * One member of a Redis stream consumer group, on its own connection (it blocks in `XREADGROUP`):
 * first what the broker still holds for this member name (a restart with the same `consumerName`), then
 * new entries (`>`), at most `prefetch` unacknowledged at once. Every `claimAfterMs / 2` it takes over
 * entries idle longer than `claimAfterMs` (`XAUTOCLAIM`, Redis 6.2+), and it resets the idle time of what it
 * holds every `claimAfterMs / 3` (`XCLAIM … JUSTID`), so a live member's slow handler is never claimed.
 */
export class RedisGroupMember implements GroupMembership {
  private readonly held = new Set<Position>()
  private stopped = false
  private readonly pause = new Pause()
  private heartbeat: NodeJS.Timeout | undefined
  private nextClaim = 0
  private claimCursor = '0-0'
  /** Where reading this member's own pending entries goes on from. */
  private ownCursor = '0'

  constructor(
    private readonly link: GroupLink,
    private readonly connection: RedisClient,
    private readonly group: string,
    private readonly member: string,
    private readonly options: GroupOptions,
    private readonly onMessage: (message: GroupMessage) => void
  ) {}

  async start(): Promise<void> {
    await createGroup(this.link.pub, this.link.stream, this.group)
    this.connection.on('error', (error: unknown) => this.link.problem(error))
    await this.connection.connect()
    this.heartbeat = setInterval(() => this.touch(), Math.max(50, this.options.claimAfterMs / 3))
    this.heartbeat.unref()
    void this.loop()
  }

  async leave(): Promise<void> {
    this.stopped = true
    clearInterval(this.heartbeat)
    this.pause.wake()
    await closeClient(this.connection)
  }

  /** `lag` of `XINFO GROUPS` (Redis 7+): entries not yet handed to the group; undefined elsewhere. */
  async lag(): Promise<number | undefined> {
    const groups = (await this.link.pub.xinfo('GROUPS', this.link.stream)) as unknown[][]
    for (const fields of groups) {
      const info = new Map<string, unknown>()
      for (let i = 0; i + 1 < fields.length; i += 2) info.set(String(fields[i]), fields[i + 1])
      if (info.get('name') !== this.group) continue
      const lag = info.get('lag')
      return typeof lag === 'number' ? lag : undefined
    }
    return undefined
  }

  private get room(): number {
    return this.options.prefetch - this.held.size
  }

  private async loop(): Promise<void> {
    let own = true
    for (let failures = 0; !this.stopped;) {
      try {
        if (this.room <= 0) {
          await this.pause.wait(MAX_BLOCK_MS)
          continue
        }
        if (Date.now() >= this.nextClaim) await this.claim()
        if (own) own = await this.readOwn()
        else await this.readNew()
        failures = 0
      } catch (error) {
        if (this.stopped) return
        if (isNoGroup(error))
          await createGroup(this.link.pub, this.link.stream, this.group).catch(() => undefined)
        this.link.problem(error)
        await this.pause.wait(Math.min(100 * 2 ** failures++, MAX_RETRY_DELAY_MS))
      }
    }
  }

  /** Entries the broker still holds for this member name; true while there may be more. */
  private async readOwn(): Promise<boolean> {
    const entries = await this.read([], this.ownCursor)
    if (entries.length > 0) this.ownCursor = entries[entries.length - 1][0].toString()
    await this.hand(
      entries.filter(([id]) => !this.held.has(id.toString())),
      true
    )
    return entries.length > 0
  }

  private async readNew(): Promise<void> {
    const block = Math.min(MAX_BLOCK_MS, Math.max(10, Math.floor(this.options.claimAfterMs / 2)))
    const entries = await this.read(['BLOCK', block], '>')
    if (this.stopped) return
    await this.hand(entries, false)
  }

  /** `XREADGROUP GROUP <group> <member> COUNT <room> [BLOCK ms] STREAMS <stream> <id>` */
  private async read(block: ['BLOCK', number] | [], id: string): Promise<[Buffer, Buffer[] | null][]> {
    const read = this.connection.xreadgroupBuffer.bind(this.connection) as (
      ...args: (string | number)[]
    ) => Promise<[Buffer, [Buffer, Buffer[] | null][]][] | null>
    const reply = await read(
      'GROUP',
      this.group,
      this.member,
      'COUNT',
      this.room,
      ...block,
      'STREAMS',
      this.link.stream,
      id
    )
    return reply?.[0]?.[1] ?? []
  }

  /** `XAUTOCLAIM` entries idle longer than `claimAfterMs`, from where the last claim stopped. */
  private async claim(): Promise<void> {
    this.nextClaim = Date.now() + Math.max(50, this.options.claimAfterMs / 2)
    const { pub, stream } = this.link
    // ioredis declares no Buffer variant of XAUTOCLAIM but has one (`call*` breaks under auto-pipelining).
    const autoclaim = (pub as unknown as { xautoclaimBuffer: AutoClaim }).xautoclaimBuffer.bind(pub)
    const reply = (await autoclaim(
      stream,
      this.group,
      this.member,
      this.options.claimAfterMs,
      this.claimCursor,
      'COUNT',
      this.room
    )) as [Buffer, RawEntry[]]
    this.claimCursor = reply[0].toString()
    await this.hand(reply[1] ?? [], true)
  }

  /** Hands entries over; `counted` asks the broker how often each was delivered (claims, own pending). */
  private async hand(entries: [Buffer, Buffer[] | null][], counted: boolean): Promise<void> {
    if (entries.length === 0 || this.stopped) return
    const { pub, stream } = this.link
    const gone = entries.filter(([, fields]) => fields === null).map(([id]) => id.toString())
    // Entries trimmed or deleted while pending: nothing left to handle.
    if (gone.length > 0) await pub.xack(stream, this.group, ...gone)
    const present = entries.filter((entry): entry is RawEntry => entry[1] !== null)
    const counts = counted ? await this.deliveries(present.map(([id]) => id.toString())) : new Map()
    for (const { position, payload } of decodeEntries(present, this.link.badEntry)) {
      if (payload === undefined) {
        await pub.xack(stream, this.group, position)
        continue
      }
      this.held.add(position)
      const message: GroupMessage = {
        payload,
        position,
        deliveries: counts.get(position) ?? 1,
        ack: async () => {
          await pub.xack(stream, this.group, position)
          this.release(position)
        },
        // Redis has no negative ack: it stays pending and is claimed after claimAfterMs.
        nack: async () => this.release(position)
      }
      try {
        this.onMessage(message)
      } catch (error) {
        this.link.problem(error)
      }
    }
  }

  private async deliveries(ids: Position[]): Promise<Map<Position, number>> {
    const counts = new Map<Position, number>()
    if (ids.length === 0) return counts
    const rows = (await this.link.pub.xpending(
      this.link.stream,
      this.group,
      ids[0],
      ids[ids.length - 1],
      ids.length * 2 + this.options.prefetch,
      this.member
    )) as [string, string, number, number][]
    for (const [id, , , count] of rows) counts.set(id, Number(count))
    return counts
  }

  private release(position: Position): void {
    if (this.held.delete(position)) this.pause.wake()
  }

  /** Resets the idle time of what this member holds, so no other member claims it while it works. */
  private touch(): void {
    if (this.stopped || this.held.size === 0) return
    const { pub, stream } = this.link
    const ids: (string | number)[] = [...this.held]
    const xclaim = pub.xclaim.bind(pub) as (...args: (string | number)[]) => Promise<unknown>
    xclaim(stream, this.group, this.member, 0, ...ids, 'JUSTID').catch((error: unknown) => {
      this.link.problem(error)
    })
  }
}
