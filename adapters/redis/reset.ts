import type { Position } from '../../src/adapter'
import type { RedisClient } from './clients'
import { decodeEntries, type RawEntry } from './entries'
import { compareIds, nextId, type StreamInfo } from './positions'

/**
 * What a reader does when its stream went back: the stream now ends before the last entry the reader
 * handed over. Redis hands out ids only upwards in one stream, so this means the key was replaced: a
 * replica promoted without the master's newest entries, a restart from an older snapshot, or the key
 * deleted (or flushed, or evicted) and written again, perhaps under a clock that is behind. The reader
 * cannot read on after its own position: new entries may get ids below it and would be skipped.
 */

/** Positions a reader remembers having handed over, to recognise its own history in a stream. */
const REMEMBERED = 1_000
/** Entries per `XRANGE` while looking at a stream that went back, and pages at most. */
const SCAN_PAGE = 1_000
const SCAN_PAGES = 10

/** The last {@link REMEMBERED} positions handed over, oldest first (a ring). */
export class RecentPositions {
  private readonly ring: (Position | undefined)[] = new Array<Position | undefined>(REMEMBERED)
  private readonly held = new Set<Position>()
  private next = 0

  add(position: Position): void {
    const gone = this.ring[this.next]
    if (gone !== undefined) this.held.delete(gone)
    this.ring[this.next] = position
    this.held.add(position)
    this.next = (this.next + 1) % REMEMBERED
  }

  has(position: Position): boolean {
    return this.held.has(position)
  }

  /** The oldest position remembered (the lowest: they were handed over in order), if any. */
  get oldest(): Position | undefined {
    return this.ring[this.next] ?? this.ring[0]
  }

  clear(): void {
    this.ring.fill(undefined)
    this.held.clear()
    this.next = 0
  }
}

/** What a reader knows when it looks at its stream. */
export interface ReaderState {
  /** The last position handed over. */
  readonly last: Position
  /** The payload handed over at `last`; undefined for a gap marker. */
  readonly lastPayload: Buffer | undefined
  readonly recent: RecentPositions
  /** The key was seen missing since the last entry handed over: the stream now there was written anew. */
  readonly vanished: boolean
  /** The reader may have had entries it had not read yet when the stream was lost (it was cut off, or behind). */
  readonly lossPossible: boolean
  /** Publishers store again what a failover lost (see ./confirmed.ts). */
  readonly restoresLost: boolean
  /** Where the reader last read on after a replaced stream: an entry missing there was judged already. */
  readonly judged: Position | undefined
}

/** Where a reader whose stream was replaced reads on. */
export interface ReadOn {
  /** For the report: what happened to the stream. */
  what: string
  /** Read on after this position (`0-0`: the whole stream, and forget the remembered positions). */
  moveTo: Position
  /** Entries to hand over first: added since the stream went back, under ids below `last`. */
  fresh: RawEntry[]
  /** Report a gap (`lost`) after this position at the next entry handed over. */
  lostAfter: Position | undefined
}

/**
 * Looks again at the reader's stream (`info`, which exists) after a read that found nothing. `same`: it
 * still holds the entry at `last` as handed over; `unclear`: nothing tells (no entry at `last`); else it
 * went back (ends before `last`) or was written anew under ids handed out again, and where to read on:
 * - the stream still holds entries the reader handed over (a replica behind its master, an older
 *   snapshot): after its end, handing over first what it holds above the oldest remembered position
 *   that the reader never saw; a gap only where the reader may have missed something and no publisher
 *   stores it again;
 * - a stream the reader never read (seen missing before, or holding none of the remembered entries):
 *   all of it, with a gap;
 * - nothing tells (it ends below what the reader remembers), or ids reused (they cannot be told from
 *   the ones handed over): after its end, with a gap.
 * Reads at most `SCAN_PAGES` pages of `XRANGE`.
 */
export async function lookAgain(
  client: RedisClient,
  stream: string,
  info: StreamInfo,
  state: ReaderState
): Promise<ReadOn | 'same' | 'unclear'> {
  const { last } = state
  let end = info.lastGeneratedId
  let what = `went back: it ends at ${end}`
  if (compareIds(end, last) >= 0) {
    const held = await holds(client, stream, last, state.lastPayload)
    if (held === 'same') return 'same'
    if (held === 'other')
      return { what: `was written anew under ids up to ${end}`, moveTo: end, fresh: [], lostAfter: last }
    // No entry at `last`: trimmed (the stream starts after it), or gone from the middle: a stream that went
    // back and has handed out ids past `last` since; what it holds between its old end and `last` is new.
    const first = info.firstEntryId
    const trimmed = first === undefined || compareIds(first, last) > 0
    if (trimmed || state.recent.oldest === undefined || state.judged === last) return 'unclear'
    end = last
    what = `no longer holds ${last} but holds older entries`
  }
  const oldest = state.recent.oldest
  if (oldest === undefined || compareIds(end, oldest) < 0) {
    return { what, moveTo: state.vanished ? '0-0' : end, fresh: [], lostAfter: last }
  }
  const fresh: RawEntry[] = []
  let shared = false
  let from = oldest
  for (let page = 0; page < SCAN_PAGES; page++) {
    const entries = (await client.xrangeBuffer(stream, from, end, 'COUNT', SCAN_PAGE)) as RawEntry[]
    for (const entry of entries) {
      if (state.recent.has(entry[0].toString())) shared = true
      else fresh.push(entry)
    }
    if (entries.length < SCAN_PAGE) break
    from = nextId(entries[entries.length - 1][0].toString())
  }
  if (shared) {
    const lossy = state.lossPossible && !state.restoresLost
    return { what, moveTo: end, fresh, lostAfter: lossy ? last : undefined }
  }
  const anew = state.vanished || fresh.length > 0
  return { what, moveTo: anew ? '0-0' : end, fresh: [], lostAfter: last }
}

/**
 * What the stream holds at `last`: the entry handed over (`same`; also when its payload is not known, a gap
 * marker), `other` content under its id, or nothing (`absent`).
 */
async function holds(
  client: RedisClient,
  stream: string,
  last: Position,
  payload: Buffer | undefined
): Promise<'same' | 'other' | 'absent'> {
  const [entry] = (await client.xrangeBuffer(stream, last, last)) as RawEntry[]
  if (entry === undefined) return 'absent'
  if (payload === undefined) return 'same'
  const [found] = decodeEntries([entry], () => undefined)
  return found.payload !== undefined && found.payload.equals(payload) ? 'same' : 'other'
}

/**
 * Whether the stream can never have held `last` although it should, had only retention acted: nothing was
 * ever removed from it (`entries-added` equals its length, Redis ≥ 7) and it starts after `last`.
 * Undefined `entries-added` (older Redis, DragonFly) tells nothing: false.
 */
export function writtenAnew(info: StreamInfo, last: Position): boolean {
  const { entriesAdded, length, firstEntryId } = info
  if (entriesAdded === undefined || entriesAdded > length) return false
  return firstEntryId === undefined || compareIds(firstEntryId, last) > 0
}
