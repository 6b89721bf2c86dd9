/**
 * Turns the individual measurements into medians per implementation, and into ratios of feathers-fanout
 * against the bare client and feathers-sync measured in the same run, since absolute numbers drift.
 */
import type { BurstFigures, RateFigures } from './measure'
import type { Impl, Transport } from './protocol'
import { median, ratio } from './stats'

export interface Measurement {
  transport: Transport
  impl: Impl
  size: number
  round: number
  burstEvents: number
  burst: BurstFigures
  rate: RateFigures
}

/** Medians over the rounds of one implementation, transport and size. */
export interface SummaryRow {
  transport: Transport
  impl: Impl
  size: number
  runs: number
  eventsPerSecond: number
  p50: number
  p99: number
  max: number
  localP50: number | null
  localP99: number | null
  localMax: number | null
  subscriberRssMb: number
  /** CPU time per event during the bursts, µs: the publisher's, and the busiest subscriber's. */
  publisherCpuUs: number
  subscriberCpuUs: number
  /** The broker's CPU per event during the bursts (for cluster: the relaying primary's), µs. */
  serverCpuUs: number
  /** The worst delivered ratio of any run, burst or rate. */
  delivered: number
  duplicates: number
}

/** feathers-fanout against another implementation of the same run. */
export interface RatioRow {
  transport: Transport
  size: number
  versus: Exclude<Impl, 'fanout'>
  /** fanout throughput / theirs, the median of the per-round ratios: above 1 is faster. */
  throughput: number
  /** fanout's median p99 / theirs: below 1 is better. */
  p99: number
}

const group = (measurements: Measurement[], transport: Transport, impl: Impl, size: number) =>
  measurements.filter((m) => m.transport === transport && m.impl === impl && m.size === size)

function keys(measurements: Measurement[]): [Transport, Impl, number][] {
  const seen = new Map<string, [Transport, Impl, number]>()
  for (const m of measurements) seen.set(`${m.transport}/${m.impl}/${m.size}`, [m.transport, m.impl, m.size])
  return [...seen.values()]
}

export function summarize(measurements: Measurement[]): SummaryRow[] {
  return keys(measurements).map(([transport, impl, size]) => {
    const runs = group(measurements, transport, impl, size)
    const of = (pick: (m: Measurement) => number) => median(runs.map(pick))
    const local = runs.every((m) => m.rate.local !== null)
    return {
      transport,
      impl,
      size,
      runs: runs.length,
      eventsPerSecond: of((m) => m.burst.eventsPerSecond),
      p50: of((m) => m.rate.p50),
      p99: of((m) => m.rate.p99),
      max: of((m) => m.rate.max),
      localP50: local ? of((m) => m.rate.local?.p50 ?? NaN) : null,
      localP99: local ? of((m) => m.rate.local?.p99 ?? NaN) : null,
      localMax: local ? of((m) => m.rate.local?.max ?? NaN) : null,
      subscriberRssMb: of((m) => m.burst.subscriberRssMb),
      publisherCpuUs: of((m) => m.burst.publisherCpuUs),
      subscriberCpuUs: of((m) => m.burst.subscriberCpuUs),
      serverCpuUs: of((m) => m.burst.serverCpuUs),
      delivered: Math.min(...runs.flatMap((m) => [m.burst.delivered, m.rate.delivered])),
      duplicates: runs.reduce((sum, m) => sum + m.burst.duplicates + m.rate.duplicates, 0)
    }
  })
}

/**
 * `ours` throughput over `theirs` for one transport and size, the median of the per-round ratios;
 * undefined when no round measured both.
 */
export function pairedThroughput(
  measurements: Measurement[],
  [transport, size]: [Transport, number],
  ours: Impl,
  theirs: Impl
): number | undefined {
  const mine = group(measurements, transport, ours, size)
  const other = group(measurements, transport, theirs, size)
  const paired = mine.flatMap((m) => {
    const t = other.find((candidate) => candidate.round === m.round)
    return t ? [ratio(m.burst.eventsPerSecond, t.burst.eventsPerSecond)] : []
  })
  // Pairing rounds cancels slow drift of the machine.
  return paired.length === 0 ? undefined : median(paired)
}

export function ratios(measurements: Measurement[]): RatioRow[] {
  const rows: RatioRow[] = []
  for (const [transport, impl, size] of keys(measurements)) {
    if (impl === 'fanout') continue
    const throughput = pairedThroughput(measurements, [transport, size], 'fanout', impl)
    if (throughput === undefined) continue
    const ours = group(measurements, transport, 'fanout', size)
    const theirs = group(measurements, transport, impl, size)
    rows.push({
      transport,
      size,
      versus: impl,
      throughput,
      // A latency spike is a short random event that pairing rounds cannot cancel: p99 compares medians.
      p99: ratio(median(ours.map((m) => m.rate.p99)), median(theirs.map((t) => t.rate.p99)))
    })
  }
  return rows
}
