import type { DurableHooks, Position } from '../../src/adapter'
import { SyncMessageError } from '../../src/errors'
import type { RedisClient } from './clients'
import { Pause } from './pause'
import { trimmedAfter, type StreamInfo } from './positions'

/** Entries per `XREAD`; a full batch means the reader is behind, so the next one checks for a gap. */
export const READ_BATCH = 500
/** How long one `XREAD` blocks on the server, in ms; an idle reader sends one command per this. */
const BLOCK_MS = 5_000
const MAX_RETRY_DELAY_MS = 5_000

/** The field of a stream entry that holds the payload. */
export const PAYLOAD_FIELD = 'p'

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
}

/** Ids and payloads of raw entries, oldest first; entries without a payload are reported and skipped. */
export function decodeEntries(
  entries: RawEntry[],
  onBad: (error: SyncMessageError) => void
): { position: Position; payload: Buffer | undefined }[] {
  return entries.map(([rawId, fields]) => {
    const position = rawId.toString()
    let payload: Buffer | undefined
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i].toString() === PAYLOAD_FIELD) payload = fields[i + 1]
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
 */
export class StreamReader {
  private stopped = false
  private readonly pause = new Pause()

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
    this.pause.wake()
  }

  private async loop(): Promise<void> {
    for (let failures = 0; !this.stopped;) {
      let reply: [Buffer, RawEntry[]][] | null
      try {
        const { client, stream } = this.link
        reply = await client.xreadBuffer('COUNT', READ_BATCH, 'BLOCK', BLOCK_MS, 'STREAMS', stream, this.last)
        failures = 0
      } catch (error) {
        if (this.stopped) return
        this.link.problem(error)
        this.suspect = true
        await this.pause.wait(Math.min(100 * 2 ** failures++, MAX_RETRY_DELAY_MS))
        continue
      }
      const entries = reply?.[0]?.[1] ?? []
      if (entries.length > 0) await this.hand(entries)
    }
  }

  private async hand(entries: RawEntry[]): Promise<void> {
    // A live reader can fall behind too: a burst above the retention between two reads trims past it.
    const check = this.suspect || entries.length >= Math.min(READ_BATCH, this.link.keeps)
    this.suspect = entries.length >= READ_BATCH
    const decoded = decodeEntries(entries, this.link.badEntry)
    if (check) await this.checkGap(decoded[0].position)
    for (const { position, payload } of decoded) {
      if (this.stopped) return
      this.last = position
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
        this.hooks.gap({ after: this.last, firstAvailable: first, missing: undefined })
      }
    } catch (error) {
      this.link.problem(error)
    }
  }
}
