import type { Position } from '../../src/adapter'
import { SyncConfigError } from '../../src/errors'

/**
 * Redis stream entry ids (`<ms>-<seq>`, two unsigned 64-bit numbers) as positions, and what the
 * adapter reads from `XINFO STREAM`. Ids are compared as BigInt: `seq` may in principle pass 2^53.
 */

const ID = /^(\d{1,20})-(\d{1,20})$/
const MAX_U64 = 2n ** 64n - 1n

/** The two parts of an entry id, or undefined when `id` is not one. */
function parse(id: unknown): [bigint, bigint] | undefined {
  const match = typeof id === 'string' ? ID.exec(id) : null
  if (!match) return undefined
  const parts: [bigint, bigint] = [BigInt(match[1]), BigInt(match[2])]
  return parts[0] <= MAX_U64 && parts[1] <= MAX_U64 ? parts : undefined
}

/** Checks that `position` is a stream entry id; throws a SyncConfigError naming `what` otherwise. */
export function checkPosition(position: unknown, what: string): Position {
  if (parse(position) === undefined) {
    throw new SyncConfigError(
      what,
      `"${what}" must be a Redis stream entry id such as "1700000000000-0", got ${JSON.stringify(position)}`
    )
  }
  return position as Position
}

/** Negative, zero or positive, as entry id `a` is before, at or after `b`. */
export function compareIds(a: Position, b: Position): number {
  const [am, as] = parse(checkPosition(a, 'position')) ?? [0n, 0n]
  const [bm, bs] = parse(checkPosition(b, 'position')) ?? [0n, 0n]
  if (am !== bm) return am < bm ? -1 : 1
  return as === bs ? 0 : as < bs ? -1 : 1
}

/** The smallest id after `id`: `XRANGE` from it is exclusive of `id` on every Redis and DragonFly. */
export function nextId(id: Position): Position {
  const [ms, seq] = parse(checkPosition(id, 'position')) ?? [0n, 0n]
  return seq < MAX_U64 ? `${ms}-${seq + 1n}` : `${ms + 1n}-0`
}

/** What the adapter uses of an `XINFO STREAM` reply. */
export interface StreamInfo {
  /** False when the key does not exist (`XINFO` answered "no such key"): not the same as an empty stream. */
  exists: boolean
  /** Id of the newest entry ever added (also after it was deleted); `0-0` for a new stream. */
  lastGeneratedId: Position
  firstEntryId: Position | undefined
  lastEntryId: Position | undefined
  /** Entries held now. */
  length: number
  /** Entries ever added to this stream (`entries-added`, Redis ≥ 7); undefined where not told. */
  entriesAdded: number | undefined
}

const entryId = (entry: unknown): Position | undefined =>
  Array.isArray(entry) && typeof entry[0] === 'string' ? entry[0] : undefined

/** Reads the flat `[name, value, …]` reply of `XINFO STREAM`. */
export function parseStreamInfo(reply: unknown): StreamInfo {
  const fields = new Map<string, unknown>()
  const flat = Array.isArray(reply) ? reply : []
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(String(flat[i]), flat[i + 1])
  const text = (name: string) => {
    const value = fields.get(name)
    return typeof value === 'string' && parse(value) ? value : undefined
  }
  const count = (name: string) => {
    const value = fields.get(name)
    return typeof value === 'number' ? value : undefined
  }
  return {
    exists: true,
    lastGeneratedId: text('last-generated-id') ?? '0-0',
    firstEntryId: entryId(fields.get('first-entry')),
    lastEntryId: entryId(fields.get('last-entry')),
    length: count('length') ?? 0,
    entriesAdded: count('entries-added')
  }
}

/** What `XINFO STREAM` of a key that does not exist stands for. */
export const MISSING_STREAM: StreamInfo = {
  exists: false,
  lastGeneratedId: '0-0',
  firstEntryId: undefined,
  lastEntryId: undefined,
  length: 0,
  entriesAdded: undefined
}

/**
 * Whether entries after `last` may have been trimmed before the reader saw them, given that the read
 * after `last` returned `first` first and the stream now starts at `info.firstEntryId`. Trimming only
 * removes the oldest entries, so:
 * - `first` right after `last`: nothing can lie between them, no gap;
 * - `last` still in the stream: nothing after it was trimmed, no gap;
 * - otherwise a gap is reported. That is wrong only when no entry was ever added between `last` and
 *   `first` although `last` itself was trimmed, i.e. the reader was a whole retention behind. Redis keeps
 *   no count that tells these apart (`max-deleted-entry-id` moves only with `XDEL`, not with trimming).
 */
export function trimmedAfter(last: Position, first: Position, info: StreamInfo): boolean {
  if (first === nextId(last)) return false
  return info.firstEntryId === undefined || compareIds(info.firstEntryId, last) > 0
}
