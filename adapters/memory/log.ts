import type { DurableHooks, Payload, Position, StartPosition } from '../../src/adapter'
import type { ResolvedDurable } from '../../src/engine/options'
import { SyncConfigError } from '../../src/errors'
import { MemoryGroup } from './groups'

interface Entry {
  seq: number
  payload: Payload
  at: number
}

/** One reader of a log: where it is, and where it hands messages. */
export interface LogReader {
  /** The sequence number it reads next. */
  next: number
  hooks: DurableHooks
  /** Paused while its bus is offline. */
  active: () => boolean
}

/**
 * The durable log of one channel on an in-process bus: numbered from 1, trimmed by count and age like a
 * broker's retention, with readers that each keep their own place, catch up after an outage and report
 * what retention dropped before they read it (exact counts: the numbers are contiguous).
 */
export class MemoryLog {
  private entries: Entry[] = []
  private last = 0
  private readonly readers = new Set<LogReader>()
  private readonly positions = new Map<string, Position>()
  private readonly groups = new Map<string, MemoryGroup>()

  constructor(private readonly retention: ResolvedDurable) {}

  append(payload: Payload, now = Date.now()): Position {
    const seq = ++this.last
    this.entries.push({ seq, payload, at: now })
    this.trim(now)
    for (const reader of this.readers) queueMicrotask(() => this.pump(reader))
    for (const group of this.groups.values()) queueMicrotask(() => group.dispatch())
    return String(seq)
  }

  /** Registers a reader starting at `start`; it is caught up at once (asynchronously). */
  open(start: StartPosition, hooks: DurableHooks, active: () => boolean): LogReader {
    const next =
      start.kind === 'tail' ? this.last + 1 : start.kind === 'head' ? this.first() : parse(start.position) + 1
    const reader: LogReader = { next, hooks, active }
    this.readers.add(reader)
    queueMicrotask(() => this.pump(reader))
    return reader
  }

  close(reader: LogReader | undefined): void {
    if (reader) this.readers.delete(reader)
  }

  /** Catches every active reader up, e.g. when the bus is back online. */
  resume(): void {
    for (const reader of this.readers) this.pump(reader)
    for (const group of this.groups.values()) group.dispatch()
  }

  /** The consumer group `name`, created at the log's tail on first use. */
  group(name: string, active: () => boolean): MemoryGroup {
    let group = this.groups.get(name)
    if (!group) {
      group = new MemoryGroup(name, {
        entry: (seq) => this.entries[seq - this.first()]?.payload,
        bounds: () => ({ first: this.first(), last: this.last }),
        active
      })
      this.groups.set(name, group)
    }
    return group
  }

  range(after: Position, limit: number, inclusive = false): { payload: Payload; position: Position }[] {
    const from = inclusive ? parse(after) : parse(after) + 1
    return this.entries
      .filter((entry) => entry.seq >= from)
      .slice(0, limit)
      .map((entry) => ({ payload: entry.payload, position: String(entry.seq) }))
  }

  firstPosition(): Position | undefined {
    return this.entries.length === 0 ? undefined : String(this.first())
  }

  lastPosition(): Position | undefined {
    return this.entries.length === 0 ? undefined : String(this.last)
  }

  save(name: string, position: Position): void {
    this.positions.set(name, position)
  }

  load(name: string): Position | undefined {
    return this.positions.get(name)
  }

  private first(): number {
    return this.entries[0]?.seq ?? this.last + 1
  }

  /** Hands a reader everything after its place, in order, reporting a gap first if retention moved past it. */
  private pump(reader: LogReader): void {
    if (!this.readers.has(reader) || !reader.active()) return
    const first = this.first()
    if (reader.next < first && reader.next <= this.last) {
      const missing = first - reader.next
      reader.hooks.gap({ after: String(reader.next - 1), firstAvailable: String(first), missing })
      reader.next = first
    }
    // Bounded by the entries held: each turn hands over one and moves the reader on.
    for (
      let i = reader.next - first;
      i < this.entries.length && this.readers.has(reader) && reader.active();
      i++
    ) {
      const entry = this.entries[i]
      reader.next = entry.seq + 1
      reader.hooks.message(entry.payload, String(entry.seq))
    }
  }

  private trim(now: number): void {
    const { maxMessages, maxAgeMs } = this.retention
    let drop = Math.max(0, this.entries.length - maxMessages)
    while (drop < this.entries.length && now - this.entries[drop].at > maxAgeMs) drop++
    if (drop > 0) this.entries = this.entries.slice(drop)
  }
}

/** A memory log position: a whole number of 0 or more, as text. */
export function parse(position: Position): number {
  const value = Number(position)
  if (!/^\d+$/.test(position) || !Number.isSafeInteger(value)) {
    throw new SyncConfigError('position', `A memory log position is a whole number, got "${position}"`)
  }
  return value
}
