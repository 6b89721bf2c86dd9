/**
 * Turns what the instances reported about one scenario into its figures, and lists every check that
 * failed: a crash, a leaked listener or socket, a lost event nothing accounts for, a duplicate, a miss
 * after recovery, a counter that does not add up.
 */
import { isDeepStrictEqual } from 'node:util'
import type { SyncStats } from '../../src/index'
import { accountPairs, accountSender, prefixOf, type Loss } from './accounting'
import type { ScenarioFigures } from './figures'
import type { Probe, ScenarioReport } from './protocol'
import type { Injected, Scenario } from './scenarios'

export interface ScenarioRun {
  scenario: Scenario
  injected: Injected
  started: number
  /** When the suite first saw every instance ready after the fault. */
  readyAt: number
  finished: number
  /** Reports of the instances alive at the end. */
  reports: ScenarioReport[]
  /** Probes by instance index, at the start (or when an instance joined) and at the end. */
  baseline: Map<number, Probe>
  end: Map<number, Probe>
  crashes: string[]
  /** Sockets above the start count once the last events were in, and how long until they were back. */
  sockets: { left: number; settledMs: number }
  /** How long before a fault a handed-over message may still be in flight. */
  marginMs: number
}

const sum = (values: number[]) => values.reduce((total, value) => total + value, 0)
const grown = (end: SyncStats, start: SyncStats, read: (stats: SyncStats) => number) =>
  read(end) - read(start)
const tcp = (probe: Probe) => probe.handles.TCPSocketWrap ?? 0

function lastReadyAt(report: ScenarioReport): number {
  const ready = report.timeline.filter((change) => change.status === 'ready')
  return ready.length > 0 ? ready[ready.length - 1].at : 0
}

export function assess(run: ScenarioRun): { figures: ScenarioFigures; failures: string[] } {
  const { injected, reports, baseline, end } = run
  const probesOf = (index: number): [Probe, Probe] => {
    const [start, finish] = [baseline.get(index), end.get(index)]
    if (!start || !finish) throw new Error(`no probe of instance ${index}`)
    return [start, finish]
  }
  const failures: string[] = [...run.crashes]
  const recoveredAt = Math.max(run.started, ...reports.map(lastReadyAt))
  const pairs = accountPairs(reports, injected.windows, recoveredAt, run.marginMs)
  const faulty = injected.windows.length > 0 || injected.killed !== undefined

  let listenersStable = true
  for (const report of reports) {
    const [start, finish] = probesOf(report.index)
    failures.push(...finish.problems.map((problem) => `instance ${report.index}: ${problem}`))
    const later = report.timeline.filter((change) => change.at > run.readyAt)
    if (later.length > 0) {
      const when = later.map((c) => `${c.status} at +${c.at - run.readyAt} ms`).join(', ')
      failures.push(
        `instance ${report.index} left ready after recovery: ${when}; status ${finish.status}, ` +
          `errors ${JSON.stringify(finish.errors)}, last: ${finish.lastError ?? 'none'}, ` +
          `reconnects ${finish.stats.reconnects}, outbox ${JSON.stringify(finish.stats.outbox)}`
      )
    }
    if (!isDeepStrictEqual(start.listeners, finish.listeners) || tcp(start) !== tcp(finish)) {
      listenersStable = false
      const was = JSON.stringify({ ...start.listeners, tcp: tcp(start), sockets: start.sockets })
      const now = JSON.stringify({ ...finish.listeners, tcp: tcp(finish), sockets: finish.sockets })
      failures.push(
        `instance ${report.index} (${finish.status}): listeners or sockets changed from ${was} to ${now}`
      )
    }
    const sender = accountSender(report)
    const counted = grown(
      finish.stats,
      start.stats,
      (s) => s.dropped.outboxOverflow + s.dropped.unsent + s.dropped.serializeFailed + s.publishErrors
    )
    if (sender.notHanded !== counted) {
      failures.push(
        `instance ${report.index}: ${sender.notHanded} events never reached the broker client, but its counters account for ${counted}`
      )
    }
    for (const [reason, expected] of Object.entries(injected.expectedDrops ?? {})) {
      const got = grown(finish.stats, start.stats, (s) => s.dropped[reason as keyof SyncStats['dropped']])
      if (got !== expected)
        failures.push(`instance ${report.index}: dropped.${reason} grew by ${got}, expected ${expected}`)
    }
  }
  for (const pair of pairs) {
    const label = `${pair.sender} → ${pair.receiver}`
    if (pair.vanished > 0)
      failures.push(
        `${label}: ${pair.vanished} events vanished unaccounted: ${pair.vanishedNumbers.slice(0, 20).join(', ')}`
      )
    if (pair.duplicates > 0) failures.push(`${label}: ${pair.duplicates} events delivered twice`)
    if (pair.missedAfterRecovery > 0)
      failures.push(`${label}: ${pair.missedAfterRecovery} events sent after recovery did not arrive`)
    if ((!faulty || injected.expectEvery) && pair.delivered !== pair.sent)
      failures.push(`${label}: ${pair.sent - pair.delivered} events lost without any fault`)
  }

  let killed: ScenarioFigures['killed']
  if (injected.killed) {
    const { index, knownEnd } = injected.killed
    const first = baseline.get(index)?.next ?? 0
    const survivors = reports.filter((report) => report.startedAt < run.started)
    const prefixes = survivors.map((report) => prefixOf(report, index, first))
    prefixes.forEach((prefix, i) => {
      if (prefix.gaps > 0 || prefix.duplicates > 0) {
        failures.push(
          `killed ${index} → ${survivors[i].index}: ${prefix.gaps} gaps, ${prefix.duplicates} duplicates`
        )
      }
    })
    killed = {
      knownSent: knownEnd - first,
      deliveredPerReceiver: prefixes.map((prefix) => prefix.delivered),
      lostTail: prefixes.map((prefix) => Math.max(0, knownEnd - 1 - prefix.last))
    }
  }

  const senders = reports.map(accountSender)
  const delta = (read: (stats: SyncStats) => number) =>
    sum(reports.map(({ index }) => grown(probesOf(index)[1].stats, probesOf(index)[0].stats, read)))
  const errors: Record<string, number> = {}
  for (const { index } of reports) {
    const [start, finish] = probesOf(index)
    for (const [code, n] of Object.entries(finish.errors)) {
      const grew = n - (start.errors[code] ?? 0)
      if (grew > 0) errors[code] = (errors[code] ?? 0) + grew
    }
  }
  const lost = (key: keyof Loss) => sum(pairs.map((pair) => pair[key]))
  const offsets = pairs.flatMap((pair) => pair.inFlightOffsetsMs)
  const receivers = reports.length - 1
  const figures: ScenarioFigures = {
    id: run.scenario.id,
    title: run.scenario.title,
    durationMs: run.finished - run.started,
    sent: sum(senders.map((s) => s.sent)),
    expected: sum(pairs.map((pair) => pair.sent)),
    delivered: sum(pairs.map((pair) => pair.delivered)),
    lost: {
      dropped: lost('dropped'),
      inFlight: lost('inFlight'),
      away: lost('away'),
      vanished: lost('vanished')
    },
    queued: {
      events: sum(senders.map((s) => s.queued)),
      expected: sum(senders.map((s) => s.queued)) * receivers,
      delivered: sum(pairs.map((pair) => pair.queuedDelivered))
    },
    resent: sum(senders.map((s) => s.resent)),
    duplicatesDropped: delta((s) => s.dropped.duplicate),
    duplicatesSeen: sum(pairs.map((pair) => pair.duplicates)),
    outboxOverflow: delta((s) => s.dropped.outboxOverflow),
    reconnects: delta((s) => s.reconnects),
    recoveryMs: faulty ? Math.max(0, recoveredAt - injected.endedAt) : null,
    resumeDelayMs: probesOf(reports[0].index)[1].resumeDelayMs,
    inFlightHandedMs: offsets.length > 0 ? [Math.min(...offsets), Math.max(...offsets)] : null,
    errors,
    garbage: injected.expectedDrops as Record<string, number> | undefined,
    burst: injected.burst && {
      ...injected.burst,
      eventsPerSecond: Math.round(
        (injected.burst.perInstance * reports.length * 1000) / injected.burst.drainedMs
      )
    },
    killed,
    listenersStable,
    socketsLeft: run.sockets.left,
    socketsSettledMs: run.sockets.left > 0 ? run.sockets.settledMs : null
  }
  return { figures, failures }
}
