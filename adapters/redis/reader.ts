import type { DurableHooks, Position } from '../../src/adapter'
import { createDebug } from '../../src/engine/debug'
import { SyncLogResetError } from '../../src/errors'
import { decodeEntries, type RawEntry } from './entries'
import { awaitReply } from './heartbeat'
import { Pause } from './pause'
import type { ReaderLink } from './reader-link'
import { compareIds, trimmedAfter, type StreamInfo } from './positions'
import { lookAgain, RecentPositions, writtenAnew } from './reset'

const debug = createDebug('feathers-fanout/redis')

/** Entries per `XREAD`; a full batch means the reader is behind, so the next one checks for a gap. */
export const READ_BATCH = 500
/** How long one `XREAD` blocks on the server without a heartbeat, in ms; an idle reader sends one per this. */
const BLOCK_MS = 5_000
const MAX_RETRY_DELAY_MS = 5_000

/**
 * The blocking read loop of a durable subscription: `XREAD BLOCK … STREAMS <stream> <last>` on a
 * dedicated connection, handing each entry over in order and moving `last` past it. Since every read
 * names the last id handed over, a read that ioredis resends after a reconnect resumes exactly there.
 *
 * The connection carries nothing but these reads, so a PING would wait behind them: the reads are the
 * heartbeat. Each blocks for one heartbeat interval, and one not answered within the heartbeat timeout
 * after that, on a connection that says it is up, is reported hung (a stopped server, a silent network).
 *
 * A read that found nothing is followed by an `XINFO STREAM`: a stream that is missing, or that ends
 * before `last`, was lost or replaced, and reading on after `last` could skip its new entries forever
 * (see ./reset.ts and docs/redis.md, "When the stream is lost or goes back").
 */
export class StreamReader {
  private stopped = false
  private readonly pause = new Pause()
  /** Stops the bound on the pending read. */
  private watchdog: (() => void) | undefined
  private readonly recent = new RecentPositions()
  /** The stream was seen missing since the last entry handed over (reported once). */
  private vanished = false
  /** The reader moved past entries it could not read: the next entry handed over follows a gap after this. */
  private lostAfter: Position | undefined
  /** Look at the stream before the next read (a start after a stored position, a failed read). */
  private inspectFirst: boolean
  /** The payload of the entry at `last`, as handed over: a stream written anew may reuse its id. */
  private lastPayload: Buffer | undefined
  /** Where the reader last read on after a replaced stream (see ./reset.ts). */
  private judged: Position | undefined

  constructor(
    private readonly link: ReaderLink,
    private readonly hooks: DurableHooks,
    /** The last position handed over (or the start point). */
    private last: Position,
    /** Whether the next batch must be checked for entries trimmed before they were read. */
    private suspect: boolean
  ) {
    this.inspectFirst = suspect
  }

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
        if (this.inspectFirst) {
          this.inspectFirst = false
          await this.watched(() => this.inspect())
        }
        const { client, stream } = this.link
        reply = await this.watched(() =>
          client.xreadBuffer('COUNT', READ_BATCH, 'BLOCK', blockMs, 'STREAMS', stream, this.last)
        )
        failures = 0
      } catch (error) {
        if (this.stopped) return
        this.link.problem(error)
        this.suspect = true
        this.inspectFirst = true
        await this.pause.wait(Math.min(100 * 2 ** failures++, MAX_RETRY_DELAY_MS))
        continue
      }
      const entries = reply?.[0]?.[1] ?? []
      if (entries.length > 0) await this.hand(entries)
      else await this.watched(() => this.inspect()).catch((error: unknown) => this.link.problem(error))
    }
  }

  /** Runs a command on the reader's connection under the heartbeat's bound (when it has one). */
  private async watched<T>(command: () => Promise<T>): Promise<T> {
    const sent = command()
    if (this.link.heartbeat.intervalMs > 0) this.watch()
    try {
      return await sent
    } finally {
      this.unwatch()
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
    const check = this.suspect || this.vanished || entries.length >= Math.min(READ_BATCH, this.link.keeps)
    this.suspect = entries.length >= READ_BATCH
    const decoded = decodeEntries(entries, this.link.badEntry)
    const first = decoded[0].position
    if (this.lostAfter === undefined && check) await this.checkGap(first)
    this.deliver(decoded)
  }

  private deliver(decoded: ReturnType<typeof decodeEntries>): void {
    if (this.lostAfter !== undefined && decoded.length > 0) {
      const firstAvailable = decoded[0].position
      this.hooks.gap({ after: this.lostAfter, firstAvailable, missing: undefined, reason: 'lost' })
      this.lostAfter = undefined
    }
    for (const { position, payload, marker } of decoded) {
      if (this.stopped) return
      const after = this.last
      this.last = position
      this.lastPayload = payload
      this.recent.add(position)
      // Confirmed entries before the marker may be gone (a failover); this reader may have read them.
      if (marker) this.hooks.gap({ after, firstAvailable: position, missing: undefined, reason: 'lost' })
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
      if (this.stopped) return
      // Read a moment ago, gone now: judged by the next look, once the stream is there again.
      if (!info.exists) return this.missing()
      if (trimmedAfter(this.last, first, info)) {
        debug('gap after %s: read %s next, the stream starts at %s', this.last, first, info.firstEntryId)
        const lost = this.vanished || writtenAnew(info, this.last)
        if (lost && !this.vanished) this.report(`was written anew: it holds nothing before ${first}`, info)
        this.hooks.gap({
          after: this.last,
          firstAvailable: first,
          missing: undefined,
          reason: lost ? 'lost' : 'retention'
        })
      }
      this.vanished = false
    } catch (error) {
      this.link.problem(error)
    }
  }

  /** After a read that found nothing: is the stream still the one `last` is a position of? */
  private async inspect(): Promise<void> {
    // Nothing handed over yet from a stream that did not exist: nothing can be lost or behind.
    if (compareIds(this.last, '0-0') === 0) return
    const info = await this.link.info()
    if (this.stopped) return
    if (!info.exists) return this.missing()
    const { client, stream, restoresLost } = this.link
    const { last, lastPayload, recent, vanished, judged } = this
    const lossPossible = vanished || this.suspect
    const state = { last, lastPayload, recent, vanished, lossPossible, restoresLost, judged }
    const found = await lookAgain(client, stream, info, state)
    if (this.stopped || found === 'unclear') return
    // Judged: a stream back with `last` in it (a node served the slot without the key a moment) is `same`.
    this.vanished = false
    if (found === 'same') return
    debug('stream %s: read on after %s, gap after %s', found.what, found.moveTo, found.lostAfter)
    this.report(found.what, info)
    if (found.moveTo === '0-0') recent.clear()
    this.lostAfter = found.lostAfter
    this.deliver(decodeEntries(found.fresh, this.link.badEntry))
    this.judged = found.moveTo
    if (this.last === found.moveTo) return
    this.last = found.moveTo
    // What is kept is the entry at the old position: it would not match the one at the new.
    this.lastPayload = undefined
  }

  private missing(): void {
    if (this.vanished) return
    this.vanished = true
    this.report('is missing (deleted, flushed, evicted, or served by a node without it)', undefined)
  }

  private report(what: string, info: StreamInfo | undefined): void {
    const { stream } = this.link
    const text =
      `The Redis stream ${stream} ${what}; this instance had handled entries up to ${this.last}. ` +
      'Redis lost or replaced the stream (not retention); the subscription reads on.'
    this.link.reset(new SyncLogResetError(stream, this.last, info?.lastGeneratedId, text))
  }
}
