import type { DurableHooks, Position } from '../../src/adapter'
import { createDebug } from '../../src/engine/debug'
import { SyncMessageError } from '../../src/errors'
import type { RedisClient } from './clients'
import { awaitReply } from './heartbeat'
import { Pause } from './pause'
import { trimmedAfter, type StreamInfo } from './positions'

const debug = createDebug('feathers-fanout/redis')

/** Entries per `XREAD`; a full batch means the reader is behind, so the next one checks for a gap. */
export const READ_BATCH = 500
/** How long one `XREAD` blocks on the server without a heartbeat, in ms; an idle reader sends one per this. */
const BLOCK_MS = 5_000
const MAX_RETRY_DELAY_MS = 5_000

/** The field of a stream entry that holds the payload. */
export const PAYLOAD_FIELD = 'p'
/**
 * The field of a gap marker: an entry without a payload that a publisher adds when Redis lost confirmed
 * entries it can no longer store again (see ./confirmed.ts). Readers report a gap at it.
 */
export const GAP_FIELD = 'g'

/** A stream entry as the `…Buffer` commands return it: id and flat `[field, value, …]`. */
export type RawEntry = [id: Buffer, fields: Buffer[]]

/** What the reader needs from the log that owns it. */
export interface ReaderLink {
  /** The reader's own connection; it blocks on it, so nothing else may wait behind it. */
  readonly client: RedisClient
  readonly stream: string
  /** `XINFO STREAM` on the reader's connection. */
  info(): Promise<StreamInfo>
  /** A driver error, reported once per kind by the adapter. */
  problem(error: unknown): void
  /** An entry without a payload (written by something else), skipped. */
  badEntry(error: SyncMessageError): void
  /**
   * The stream's count retention (`MAXLEN ~` keeps at least this many). Trimming past the reader leaves
   * at least this many entries after it, so a read returning fewer (and not a full batch) cannot follow
   * a gap, and only a larger one needs checking.
   */
  readonly keeps: number
  /**
   * The adapter's heartbeat. With an interval, each read blocks at most that long on the server and a
   * reply must come within the timeout after it; without one (`intervalMs` 0), reads are not watched.
   */
  readonly heartbeat: { intervalMs: number; timeoutMs: number }
  /** A read got no reply within its bound while the connection looked up: the server may be hung. */
  hung(cause: Error): void
}

/**
 * Ids and payloads of raw entries, oldest first; gap markers have no payload; other entries without one
 * are reported and skipped.
 */
export function decodeEntries(
  entries: RawEntry[],
  onBad: (error: SyncMessageError) => void
): { position: Position; payload: Buffer | undefined; marker?: true }[] {
  return entries.map(([rawId, fields]) => {
    const position = rawId.toString()
    let payload: Buffer | undefined
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const field = fields[i].toString()
      if (field === PAYLOAD_FIELD) payload = fields[i + 1]
      else if (field === GAP_FIELD) return { position, payload: undefined, marker: true }
    }
    if (payload === undefined) {
      onBad(
        new SyncMessageError('shape', `Stream entry ${position} has no "${PAYLOAD_FIELD}" field; skipped`)
      )
    }
    return { position, payload }
  })
}

/**
 * The blocking read loop of a durable subscription: `XREAD BLOCK … STREAMS <stream> <last>` on a
 * dedicated connection, handing each entry over in order and moving `last` past it. Since every read
 * names the last id handed over, a read that ioredis resends after a reconnect resumes exactly there.
 *
 * The connection carries nothing but these reads, so a PING would wait behind them: the reads are the
 * heartbeat. Each blocks for one heartbeat interval, and one not answered within the heartbeat timeout
 * after that, on a connection that says it is up, is reported hung (a stopped server, a silent network).
 */
export class StreamReader {
  private stopped = false
  private readonly pause = new Pause()
  /** Stops the bound on the pending read. */
  private watchdog: (() => void) | undefined

  constructor(
    private readonly link: ReaderLink,
    private readonly hooks: DurableHooks,
    /** The last position handed over (or the start point). */
    private last: Position,
    /** Whether the next batch must be checked for entries trimmed before they were read. */
    private suspect: boolean
  ) {}

  start(): void {
    void this.loop()
  }

  /** After a lost connection retention may have moved past `last`: check the next batch. */
  markSuspect(): void {
    this.suspect = true
  }

  stop(): void {
    this.stopped = true
    this.unwatch()
    this.pause.wake()
  }

  /** The connection is (back) up: a read it resends gets its full bound from now. */
  connectionUp(): void {
    if (this.watchdog !== undefined) this.watch()
  }

  private async loop(): Promise<void> {
    const { intervalMs } = this.link.heartbeat
    const blockMs = intervalMs > 0 ? intervalMs : BLOCK_MS
    for (let failures = 0; !this.stopped;) {
      let reply: [Buffer, RawEntry[]][] | null
      try {
        const { client, stream } = this.link
        const read = client.xreadBuffer('COUNT', READ_BATCH, 'BLOCK', blockMs, 'STREAMS', stream, this.last)
        if (intervalMs > 0) this.watch()
        reply = await read
        failures = 0
      } catch (error) {
        if (this.stopped) return
        this.link.problem(error)
        this.suspect = true
        await this.pause.wait(Math.min(100 * 2 ** failures++, MAX_RETRY_DELAY_MS))
        continue
      } finally {
        this.unwatch()
      }
      const entries = reply?.[0]?.[1] ?? []
      if (entries.length > 0) await this.hand(entries)
    }
  }

  /**
   * Arms (again) the bound on the pending read. When it runs out on a connection that is not up, the
   * reconnect is already under way and the bound starts again once it is up; on one that says it is up,
   * the read is reported hung, and the bound starts again for the read resent on the next connection.
   */
  private watch(): void {
    this.unwatch()
    const { intervalMs, timeoutMs } = this.link.heartbeat
    this.watchdog = awaitReply(this.link.client, intervalMs + timeoutMs, () => {
      this.watch()
      if (this.stopped || this.link.client.status !== 'ready') return
      const within = intervalMs + timeoutMs
      this.link.hung(new Error(`no reply to XREAD within ${within} ms (the server may be hung)`))
    })
  }

  private unwatch(): void {
    this.watchdog?.()
    this.watchdog = undefined
  }

  private async hand(entries: RawEntry[]): Promise<void> {
    // A live reader can fall behind too: a burst above the retention between two reads trims past it.
    const check = this.suspect || entries.length >= Math.min(READ_BATCH, this.link.keeps)
    this.suspect = entries.length >= READ_BATCH
    const decoded = decodeEntries(entries, this.link.badEntry)
    if (check) await this.checkGap(decoded[0].position)
    for (const { position, payload, marker } of decoded) {
      if (this.stopped) return
      const after = this.last
      this.last = position
      // Confirmed entries before the marker may be gone (a failover); this reader may have read them.
      if (marker) this.hooks.gap({ after, firstAvailable: position, missing: undefined })
      if (payload === undefined) continue
      try {
        this.hooks.message(payload, position)
      } catch (error) {
        this.link.problem(error)
      }
    }
  }

  private async checkGap(first: Position): Promise<void> {
    try {
      const info = await this.link.info()
      if (!this.stopped && trimmedAfter(this.last, first, info)) {
        debug('gap after %s: read %s next, the stream starts at %s', this.last, first, info.firstEntryId)
        this.hooks.gap({ after: this.last, firstAvailable: first, missing: undefined })
      }
    } catch (error) {
      this.link.problem(error)
    }
  }
}
