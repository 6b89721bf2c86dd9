/**
 * The durable suite's own books, on top of the shared accounting (assess.ts): in durable mode nothing
 * the broker took may be lost, whatever the fault, so every pair must deliver everything it owes; a
 * restarted instance's books are joined to its predecessor's journal; and the time from the broker (or
 * the instance) being reachable again to every missed event delivered is measured.
 */
import { accountPairs } from './accounting'
import type { ScenarioRun } from './assess'
import { readJournal } from './ledger'
import type { Probe, ScenarioReport } from './protocol'

export interface DurableFigures {
  /** From the end of the fault to the last event emitted before it reaching its last receiver, in ms. */
  catchUpMs: number
  /** That last event: its sender, number, emission (ms from the end of the fault) and receiver. */
  lastCaughtUp: { sender: number; n: number; emittedMs: number; receiver: number } | null
  /** From the end of the fault until every instance was ready (subscribed) again, in ms; 0 if none left. */
  readyMs: number
  /** Events the killed instance had received that its successor received again (saved position lag). */
  redelivered: number
  /** `sync-gap` events reported during the scenario (none expected within retention). */
  gaps: number
}

/** How far behind its last delivery a named instance's saved position may be (saved once a second). */
const SAVE_LAG_MS = 2_000

/**
 * The successor's report with what its predecessor received (from the journal) folded in: an event
 * either got counts as delivered, and the successor is owed everything of the scenario. Events both got
 * are returned apart: redelivered after the restart, not seen twice by one process's listeners.
 */
export function joinJournal(
  successor: ScenarioReport,
  journal: string,
  scenario: string
): { report: ScenarioReport; redelivered: [number, number][] } {
  const before = readJournal(journal, scenario)
  const redelivered: [number, number][] = []
  const received: ScenarioReport['received'] = {}
  const senders = new Set([...before.keys(), ...Object.keys(successor.received).map(Number)])
  for (const sender of senders) {
    const merged = new Map((before.get(sender) ?? []).map((entry) => [entry[0], entry]))
    for (const entry of successor.received[sender] ?? []) {
      const earlier = merged.get(entry[0])
      if (earlier) redelivered.push([entry[0], earlier[2]])
      merged.set(entry[0], earlier ? [entry[0], entry[1], earlier[2]] : entry)
    }
    received[sender] = [...merged.values()]
  }
  return { report: { ...successor, received, owedFromStart: true }, redelivered }
}

/**
 * The latest first delivery, after `reachableAt`, of an event emitted before it (0 when none came later),
 * and which event that was.
 */
export function catchUp(
  reports: ScenarioReport[],
  reachableAt: number
): Pick<DurableFigures, 'catchUpMs' | 'lastCaughtUp'> {
  let latest = reachableAt
  let which: DurableFigures['lastCaughtUp'] = null
  for (const receiver of reports) {
    for (const sender of reports) {
      if (sender === receiver) continue
      const at = new Map((receiver.received[sender.index] ?? []).map(([n, , first]) => [n, first]))
      for (const record of sender.sent) {
        if (record.emittedAt >= reachableAt) break
        const delivered = at.get(record.n) ?? 0
        if (delivered <= latest) continue
        latest = delivered
        const emittedMs = record.emittedAt - reachableAt
        which = { sender: sender.index, n: record.n, emittedMs, receiver: receiver.index }
      }
    }
  }
  return { catchUpMs: latest - reachableAt, lastCaughtUp: which }
}

/** When the last instance to get ready again did so, in ms after `at` (0: none was away then). */
function readyAfter(reports: ScenarioReport[], at: number): number {
  let latest = at
  for (const { timeline } of reports) {
    const ready = timeline.filter((change) => change.status === 'ready' && change.at >= at)
    if (ready.length > 0) latest = Math.max(latest, ready[ready.length - 1].at)
  }
  return latest - at
}

const describe = (index: number, probe: Probe | undefined): string => {
  if (!probe) return `instance ${index} (no probe)`
  const { stats } = probe
  return (
    `instance ${index} (${probe.status}; received ${stats.received}, delivered ${stats.delivered}, ` +
    `duplicates dropped ${stats.dropped.duplicate}, outbox ${stats.outbox.messages}, ` +
    `reconnects ${stats.reconnects}, gaps ${stats.gaps.reported}, errors ${JSON.stringify(probe.errors)})`
  )
}

/** The durable checks of one scenario: nothing lost, and redeliveries only within the save lag. */
export function assessDurable(
  run: ScenarioRun,
  redelivered: [number, number][]
): { figures: DurableFigures; failures: string[] } {
  const { reports, injected, end, baseline } = run
  const failures: string[] = []
  const pairs = accountPairs(reports, injected.windows, run.started, run.marginMs)
  for (const pair of pairs) {
    const lost = pair.sent - pair.delivered
    if (lost > 0) {
      const { dropped, inFlight, away, vanished } = pair
      failures.push(
        `${describe(pair.sender, end.get(pair.sender))} → ${describe(pair.receiver, end.get(pair.receiver))}: ` +
          `${lost} of ${pair.sent} events lost in durable mode (${dropped} never handed over, ` +
          `${inFlight} handed during the fault, ${away} while the receiver was away, ${vanished} otherwise)`
      )
    }
  }
  const restart = injected.restarted
  if (restart) {
    const late = redelivered.filter(([, at]) => at < restart.killedAt - SAVE_LAG_MS)
    if (late.length > 0) {
      failures.push(
        `${describe(restart.successor, end.get(restart.successor))}: ${late.length} events its predecessor ` +
          `${restart.index} had received more than ${SAVE_LAG_MS} ms before its death came again ` +
          `(first: #${late[0][0]}); the saved position lags`
      )
    }
  }
  let gaps = 0
  for (const report of reports) {
    const grown = (end.get(report.index)?.gaps.length ?? 0) - (baseline.get(report.index)?.gaps.length ?? 0)
    gaps += grown
    if (grown > 0) failures.push(`${describe(report.index, end.get(report.index))}: ${grown} gaps reported`)
  }
  return {
    figures: {
      ...catchUp(reports, injected.endedAt),
      readyMs: readyAfter(reports, injected.endedAt),
      redelivered: redelivered.length,
      gaps
    },
    failures
  }
}
