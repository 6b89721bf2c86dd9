/**
 * One measurement on a running fleet: a burst (fan-out throughput, delivered ratio, subscriber memory)
 * or a fixed-rate run (latency at every subscriber, and the publisher's own local delivery). Waits end
 * when every subscriber has every event, or when delivery stalls, never later than a bound.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Child, Fleet } from './fleet'
import type { PhaseReport, SendResult } from './protocol'
import { latencySummary } from './stats'

/** How long delivery may make no progress before the rest counts as lost. */
const STALL_MS = 3_000
const PROBE_INTERVAL_MS = 50
const PROBES = 400
// Lets the publisher finish what trails a phase (confirms, closing connections) before the next.
const COOL_DOWN_MS = 300

export interface BurstFigures {
  eventsPerSecond: number
  /** Distinct events the worst subscriber received, over events sent. */
  delivered: number
  duplicates: number
  /** Largest resident set of a subscriber right after the burst, MiB. */
  subscriberRssMb: number
  subscriberHeapMb: number
  sendErrors: number
  /** How long the publisher took to hand every event over, ms (delivery may end later). */
  sendMs: number
  /** CPU time per event of the publisher and of the busiest subscriber, microseconds. */
  publisherCpuUs: number
  subscriberCpuUs: number
  /** CPU time per event of each subscriber, in the fleet's order, microseconds. */
  subscribersCpuUs: number[]
  /** The broker's (for cluster: the relaying primary's) CPU time per event, microseconds. */
  serverCpuUs: number
  /** From the first send until the slowest subscriber had its last event, µs of the monotonic clock. */
  window: [number, number]
  /** Why subscribers lost events, from what the broker and the instances reported; undefined if none did. */
  lost: string | undefined
}

export interface RateFigures {
  p50: number
  p99: number
  max: number
  /** The publisher's own listeners; null for the bare clients, which have none. */
  local: { p50: number; p99: number; max: number } | null
  delivered: number
  duplicates: number
  sendErrors: number
}

let lastPhase = 0

const reports = (children: Child[], latencies: boolean) =>
  Promise.all(children.map((child) => child.run<PhaseReport>({ cmd: 'report', latencies })))

async function expect(children: Child[], phase: number, count: number, doneAfter = count): Promise<void> {
  await Promise.all(children.map((child) => child.run({ cmd: 'expect', phase, count, doneAfter })))
}

/** Waits until every child is done with `phase`; false once delivery stalled or `timeoutMs` passed. */
async function delivered(children: Child[], phase: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  let progress = -1
  while (Date.now() < deadline) {
    const done = await Promise.all(children.map((child) => child.done(phase, STALL_MS)))
    if (done.every(Boolean)) return true
    const got = (await reports(children, false)).reduce((sum, report) => sum + report.got, 0)
    if (got === progress) return false
    progress = got
  }
  return false
}

/** Sends probe events until every subscriber has heard one: all subscriptions are live. */
export async function join(fleet: Fleet, size: number): Promise<void> {
  const phase = ++lastPhase
  await expect(fleet.subscribers, phase, PROBES, 1)
  for (let seq = 0; seq < PROBES; seq++) {
    await fleet.publisher.run({ cmd: 'probe', phase, seq, size })
    const done = await Promise.all(fleet.subscribers.map((child) => child.done(phase, PROBE_INTERVAL_MS)))
    if (done.every(Boolean)) return
  }
  throw new Error(`the subscribers did not hear the publisher within ${PROBES} probes`)
}

/** Sends `count` events as fast as the implementation takes them, and measures their fan-out. */
export async function measureBurst(
  fleet: Fleet,
  count: number,
  size: number,
  serverCpuSeconds: () => number,
  overLimit: () => number = () => 0
): Promise<BurstFigures> {
  const phase = ++lastPhase
  await expect([fleet.publisher, ...fleet.subscribers], phase, count)
  const serverBefore = serverCpuSeconds()
  const overLimitBefore = overLimit()
  const sent = await fleet.publisher.run<SendResult>({ cmd: 'burst', phase, count, size })
  await delivered(fleet.subscribers, phase, 10_000 + count * 2)
  const [publisher, ...got] = await reports([fleet.publisher, ...fleet.subscribers], false)
  const serverCpuUs = ((serverCpuSeconds() - serverBefore) * 1e6) / count
  await sleep(COOL_DOWN_MS)
  const least = Math.min(...got.map((report) => report.got))
  const lastUs = Math.max(...got.map((report) => report.lastUs))
  const mb = (bytes: number) => bytes / 1024 / 1024
  return {
    eventsPerSecond: least / ((lastUs - sent.startUs) / 1e6),
    delivered: least / count,
    duplicates: got.reduce((sum, report) => sum + report.duplicates, 0),
    subscriberRssMb: mb(Math.max(...got.map((report) => report.rssBytes))),
    subscriberHeapMb: mb(Math.max(...got.map((report) => report.heapUsedBytes))),
    sendErrors: sent.errors,
    sendMs: (sent.endUs - sent.startUs) / 1e3,
    publisherCpuUs: publisher.cpuUs / count,
    subscriberCpuUs: Math.max(...got.map((report) => report.cpuUs)) / count,
    subscribersCpuUs: got.map((report) => report.cpuUs / count),
    serverCpuUs,
    window: [sent.startUs, lastUs],
    lost: lossReport([publisher, ...got], overLimit() - overLimitBefore)
  }
}

/**
 * What the broker and the instances said about lost events during a phase: subscribers the broker cut
 * off for falling behind, the messages the instances counted as missed, and their distinct reports.
 */
function lossReport(reports: PhaseReport[], overLimit: number): string | undefined {
  const missed = reports.reduce((sum, report) => sum + report.missed, 0)
  const problems = [...new Set(reports.flatMap((report) => report.problems))]
  const parts = [
    ...(overLimit > 0
      ? [
          `the broker disconnected ${overLimit} subscriber connection(s) over its limit for a client ` +
            "behind (Redis' output buffer limit, NATS' max_pending)"
        ]
      : []),
    ...(missed > 0 ? [`subscribers counted ${missed} missed event(s)`] : []),
    ...problems.map((problem) => `reported: ${problem}`)
  ]
  return parts.length > 0 ? parts.join('; ') : undefined
}

/** Most warm-up bursts per size, and how close two in a row must be to call the fleet warm. */
const WARM_UP_BURSTS = 6
const WARM_UP_SPREAD = 0.15

/**
 * Warm-up bursts until two in a row agree within WARM_UP_SPREAD (at most WARM_UP_BURSTS): the JIT, the
 * heaps' sizing and the broker's caches settle at different speeds per implementation, and a single
 * fixed warm-up left later rounds up to 2.5× faster than the first, which skewed the paired ratios.
 */
export async function warmUp(
  fleet: Fleet,
  events: number,
  size: number,
  cpuSeconds: () => number
): Promise<void> {
  let last = 0
  for (let burst = 0; burst < WARM_UP_BURSTS; burst++) {
    const { eventsPerSecond } = await measureBurst(fleet, events, size, cpuSeconds)
    if (last > 0 && Math.abs(eventsPerSecond - last) <= WARM_UP_SPREAD * last) return
    last = eventsPerSecond
  }
}

/** Sends `count` events at `perSecond` and measures each one's latency. */
export async function measureRate(
  fleet: Fleet,
  count: number,
  perSecond: number,
  size: number,
  local: boolean
): Promise<RateFigures> {
  const phase = ++lastPhase
  const receivers = local ? [fleet.publisher, ...fleet.subscribers] : fleet.subscribers
  await expect(receivers, phase, count)
  const sent = await fleet.publisher.run<SendResult>({ cmd: 'rate', phase, count, perSecond, size })
  await delivered(receivers, phase, 10_000 + count * 2)
  const [publisher, ...subscribers] = await reports([fleet.publisher, ...fleet.subscribers], true)
  await sleep(COOL_DOWN_MS)
  const least = Math.min(...subscribers.map((report) => report.got))
  return {
    ...latencySummary(subscribers.flatMap((report) => report.latenciesUs)),
    local: local ? latencySummary(publisher.latenciesUs) : null,
    delivered: least / count,
    duplicates: subscribers.reduce((sum, report) => sum + report.duplicates, 0),
    sendErrors: sent.errors
  }
}
