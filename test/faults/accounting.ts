/**
 * Explains every event of a scenario that some instance did not get. For each sender and receiver:
 * sent = delivered + dropped (counted by the sender) + in flight at a broker fault + missed while the
 * receiver was away + vanished. "Vanished" must be zero: it is a loss nothing accounts for.
 */
import type { ScenarioReport, SentRecord, StatusChange } from './protocol'

/** When the broker was dead or hung; messages handed to it from `from - margin` on may die with it. */
export interface FaultWindow {
  from: number
  to: number
}

export interface Loss {
  /** Never handed to the broker client, or refused by it: the sender counted these (outbox overflow …). */
  dropped: number
  /** Handed over just before or during a broker fault, and lost with the broker or its connections. */
  inFlight: number
  /** Handed over while the receiver was not subscribed (plain pub/sub keeps nothing for it). */
  away: number
  /** None of the above. */
  vanished: number
}

export interface PairFigures extends Loss {
  sender: number
  receiver: number
  sent: number
  delivered: number
  /** Events the receiver's listeners saw more than once. */
  duplicates: number
  /** Events sent once every instance was ready again that did not arrive (must be 0). */
  missedAfterRecovery: number
  /** Delivered events that had waited in the sender's outbox. */
  queuedDelivered: number
  /** Vanished events, for the failure message: number, and hand-off time relative to the receiver's join. */
  vanishedNumbers: string[]
  /** When the in-flight losses were handed over, in ms from the start of their fault (negative: before). */
  inFlightOffsetsMs: number[]
}

export interface SenderFigures {
  index: number
  sent: number
  /** Emitted while the sender was not `ready`: they waited in its outbox. */
  queued: number
  /** Never handed to the broker client, or refused at the last attempt. */
  notHanded: number
  /** Handed over more than once: requeued after a lost connection. */
  resent: number
}

// Times are whole milliseconds from two processes' clocks: a change in the same millisecond as `at` may
// have come just after it, so only earlier changes count.
function statusAt(timeline: StatusChange[], at: number): StatusChange['status'] | undefined {
  let status: StatusChange['status'] | undefined
  for (const change of timeline) {
    if (change.at >= at) break
    status = change.status
  }
  return status
}

/** True if the receiver was not subscribed at `at`, or lost its connection within `marginMs` after. */
function away(timeline: StatusChange[], at: number, marginMs: number): boolean {
  if (statusAt(timeline, at) !== 'ready') return true
  const next = timeline.find((change) => change.at >= at && change.status !== 'ready')
  return next !== undefined && next.at - at <= marginMs
}

/** How many times `receiver` got each event of `sender`, by number. */
const timesOf = (receiver: ScenarioReport, sender: number): Map<number, number> =>
  new Map((receiver.received[sender] ?? []).map(([n, times]) => [n, times]))

const notHanded = (record: SentRecord) => record.handoffs === 0 || record.outcome === 'failed'

/** The figures of every sender → receiver pair among `reports`. */
export function accountPairs(
  reports: ScenarioReport[],
  windows: FaultWindow[],
  recoveredAt: number,
  marginMs: number
): PairFigures[] {
  const pairs: PairFigures[] = []
  for (const sender of reports) {
    for (const receiver of reports) {
      if (receiver === sender) continue
      const counts = timesOf(receiver, sender.index)
      // An instance that joined during the scenario is owed only what was sent once it was subscribed
      // (strictly after: within the same millisecond the order is unknown).
      const joinedAt = receiver.owedFromStart
        ? -Infinity
        : (receiver.timeline.find((change) => change.status === 'ready')?.at ?? Infinity)
      const owed = sender.sent.filter(
        (record) => counts.has(record.n) || (record.handedAt ?? record.emittedAt) > joinedAt
      )
      const figures: PairFigures = {
        sender: sender.index,
        receiver: receiver.index,
        sent: owed.length,
        delivered: 0,
        duplicates: 0,
        dropped: 0,
        inFlight: 0,
        away: 0,
        vanished: 0,
        missedAfterRecovery: 0,
        queuedDelivered: 0,
        vanishedNumbers: [],
        inFlightOffsetsMs: []
      }
      for (const record of owed) {
        const times = counts.get(record.n) ?? 0
        if (times > 0) {
          figures.delivered++
          figures.duplicates += times - 1
          if (record.statusAtEmit !== 'ready') figures.queuedDelivered++
          continue
        }
        if (record.emittedAt >= recoveredAt) figures.missedAfterRecovery++
        const handedAt = record.handedAt ?? 0
        const fault = windows.find((w) => handedAt >= w.from - marginMs && handedAt <= w.to)
        if (notHanded(record)) figures.dropped++
        else if (fault) {
          figures.inFlight++
          figures.inFlightOffsetsMs.push(handedAt - fault.from)
        } else if (away(receiver.timeline, handedAt, marginMs)) figures.away++
        else {
          figures.vanished++
          const { n, handoffs, outcome } = record
          const status = statusAt(receiver.timeline, handedAt)
          figures.vanishedNumbers.push(
            `#${n} handed ${handedAt - joinedAt} ms after the receiver joined (${handoffs}×, ${outcome}, receiver ${status})`
          )
        }
      }
      pairs.push(figures)
    }
  }
  return pairs
}

export function accountSender(report: ScenarioReport): SenderFigures {
  return {
    index: report.index,
    sent: report.sent.length,
    queued: report.sent.filter((record) => record.statusAtEmit !== 'ready').length,
    notHanded: report.sent.filter(notHanded).length,
    resent: report.sent.filter((record) => record.handoffs > 1).length
  }
}

/** For a sender that was killed: what each receiver got of it must be a gap-free, duplicate-free prefix. */
export function prefixOf(
  receiver: ScenarioReport,
  sender: number,
  first: number
): { delivered: number; last: number; gaps: number; duplicates: number } {
  const counts = timesOf(receiver, sender)
  const numbers = [...counts.keys()].sort((a, b) => a - b)
  const last = numbers.length > 0 ? numbers[numbers.length - 1] : first - 1
  const duplicates = [...counts.values()].reduce((sum, times) => sum + times - 1, 0)
  return { delivered: numbers.length, last, gaps: last - first + 1 - numbers.length, duplicates }
}
