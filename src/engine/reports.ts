import { SyncError, SyncMessageError } from '../errors'

/** How many reports of one kind were raised and how many of them went out folded into a summary. */
export interface ReportCounts {
  /** Problems raised, every one (reported at once or folded into a summary). */
  raised: number
  /** Problems not reported one by one but counted in a later summary. */
  suppressed: number
}

interface Pending {
  first: SyncError
  last: SyncError
  count: number
}

/**
 * The kind of a report: its code and drop reason for a dropped message, its code and text (numbers
 * masked) otherwise, so that two different connection problems stay two reports.
 */
export const kindOf = (error: SyncError): string =>
  error instanceof SyncMessageError
    ? `${error.code}:${error.reason}`
    : `${error.code}:${error.message.replace(/\d+/g, '#')}`

const WHAT: Partial<Record<string, string>> = {
  undecodable: 'undecodable messages',
  shape: 'malformed messages',
  unknownPath: 'messages for an unknown service',
  unknownEvent: 'messages with an unknown event',
  oversize: 'oversize messages',
  unauthenticated: 'unauthenticated messages',
  stale: 'stale messages',
  replayed: 'replayed messages',
  serializeFailed: 'events that could not be serialized'
}

/**
 * 1204 → "1,204". Not `toLocaleString()`: its first call in a process loads the number formats of ICU and
 * blocked the event loop for 60 to 180 ms (measured on a loaded two-core machine), and the first summary
 * usually comes during a recovery, when that time belongs to catching up.
 */
const withSeparators = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',')

/** "1,204 more undecodable messages in the last 10 s" */
function summaryOf(pending: Pending, windowMs: number): SyncError {
  const { first, last, count } = pending
  const seconds = `${Math.round(windowMs / 100) / 10} s`
  const amount = withSeparators(count)
  const options = { cause: last, repeats: count }
  if (first instanceof SyncMessageError) {
    const what = WHAT[first.reason] ?? `messages dropped as "${first.reason}"`
    return new SyncMessageError(first.reason, `${amount} more ${what} in the last ${seconds}`, options)
  }
  return new SyncError(first.code, `${amount} more like "${first.message}" in the last ${seconds}`, options)
}

/**
 * Keeps an error storm (junk on the channel, a flood of bad events) from raising one `sync-error` per
 * message: the first report of a kind goes out at once, later ones within `windowMs` are counted and
 * summarised once when the window ends. A kind with no repeats in a window starts afresh.
 */
export class ReportLimiter {
  readonly counts: ReportCounts = { raised: 0, suppressed: 0 }
  private readonly windows = new Map<string, { timer: NodeJS.Timeout; pending: Pending | undefined }>()

  constructor(
    private readonly windowMs: number,
    private readonly emit: (error: SyncError) => void
  ) {}

  /** Reports `error` now, or counts it for the summary of its kind's current window. */
  report(error: SyncError): void {
    this.counts.raised++
    if (this.windowMs <= 0) return this.emit(error)
    const kind = kindOf(error)
    const open = this.windows.get(kind)
    if (open) {
      this.counts.suppressed++
      if (open.pending) {
        open.pending.count++
        open.pending.last = error
      } else open.pending = { first: error, last: error, count: 1 }
      return
    }
    this.emit(error)
    this.openWindow(kind)
  }

  /** Sends every pending summary now and stops the timers (on close). */
  flush(): void {
    for (const [kind, open] of this.windows) {
      clearTimeout(open.timer)
      this.windows.delete(kind)
      if (open.pending) this.emit(summaryOf(open.pending, this.windowMs))
    }
  }

  private openWindow(kind: string): void {
    const timer = setTimeout(() => {
      const open = this.windows.get(kind)
      this.windows.delete(kind)
      if (!open?.pending) return
      this.emit(summaryOf(open.pending, this.windowMs))
      // A storm still going on keeps one summary per window.
      this.openWindow(kind)
    }, this.windowMs)
    timer.unref()
    this.windows.set(kind, { timer, pending: undefined })
  }
}
