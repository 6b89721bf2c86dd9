import type { Position } from '../../src/adapter'
import type { RedisClient } from './clients'
import { compareIds } from './positions'

/** Confirmed publishes a Cluster publisher keeps, and their payload bytes at most. */
const KEPT = 2_000
const KEPT_BYTES = 4 * 1024 * 1024

type Entry = { id: Position; value: string | Buffer }

/** What {@link ConfirmedTail.recover} did. */
export interface Recovered {
  /** Publishes the master had confirmed that the stream no longer holds; stored again. */
  restored: number
  /** Whether older confirmed publishes (no longer kept) may be missing too. */
  incomplete: boolean
}

/**
 * The newest publishes Redis confirmed on a Cluster, kept so that a failover cannot lose them silently.
 * Replication is asynchronous: a master confirms an `XADD` before its replica has it, and a replica that
 * takes over without it loses it (Redis Cluster spec, "write safety"). Once the stream's slot answers
 * again after a failover, `recover` reads which of them the stream still holds and stores the others
 * again, in their order, before anything newer is published; readers drop the copies they already had
 * (same sender and message number). Kept: the last 2,000, at most 4 MiB of payload.
 */
export class ConfirmedTail {
  private entries: Entry[] = []
  private bytes = 0
  /** Set once an entry was let go: older publishes cannot be checked. */
  private dropped = false

  add(id: Position, value: string | Buffer): void {
    this.entries.push({ id, value })
    this.bytes += Buffer.byteLength(value)
    while (this.entries.length > KEPT || (this.bytes > KEPT_BYTES && this.entries.length > 1)) {
      const gone = this.entries.shift() as Entry
      this.bytes -= Buffer.byteLength(gone.value)
      this.dropped = true
    }
  }

  /**
   * Stores again, in order, what the stream lost of the kept publishes. `firstHeld`: the stream's first
   * entry now; kept ones before it were trimmed by retention, not lost. `store` adds one payload and
   * returns its new id. When the oldest kept one was lost too and older ones were let go (`incomplete`),
   * `mark` first adds a gap marker, so that readers report a gap: what was let go cannot be checked.
   */
  async recover(
    client: RedisClient,
    stream: string,
    firstHeld: Position | undefined,
    store: (value: string | Buffer) => Promise<Position>,
    mark: () => Promise<unknown>
  ): Promise<Recovered> {
    const kept = this.entries.filter(({ id }) => firstHeld !== undefined && compareIds(id, firstHeld) >= 0)
    // An empty stream holds nothing: everything kept is lost.
    const checked = firstHeld === undefined ? this.entries : kept
    // One `XRANGE id id` each (pipelined): the cost does not grow with the other instances' traffic.
    const held = await Promise.all(
      checked.map(({ id }) => client.xrange(stream, id, id).then((found) => found.length > 0))
    )
    const lost = checked.filter((_, i) => !held[i])
    this.entries = checked.filter((_, i) => held[i])
    this.bytes = this.entries.reduce((sum, { value }) => sum + Buffer.byteLength(value), 0)
    if (lost.length === 0) return { restored: 0, incomplete: false }
    const incomplete = this.dropped && !held[0]
    if (incomplete) await mark()
    for (const { value } of lost) this.add(await store(value), value)
    return { restored: lost.length, incomplete }
  }
}
