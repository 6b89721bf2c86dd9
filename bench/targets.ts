/**
 * The project's targets, checked against the ratios of one run (200-byte events; the targets assume
 * two subscribers). A missed target is reported, never hidden.
 */
import { durableShare } from './durable'
import { sizeLabel } from './format'
import type { Transport } from './protocol'
import { pairedThroughput, type Measurement, type RatioRow, type SummaryRow } from './summary'

export interface TargetCheck {
  transport: Transport
  what: string
  value: number
  goal: string
  met: boolean
}

const TARGET_SIZE = 200
const FEATHERS_SYNC_FACTOR: Partial<Record<Transport, number>> = { redis: 1.3, amqp: 1.3, nats: 20 }

/** The checks; none when the run did not use the targets' setup (two subscribers, 200-byte events). */
export function checkTargets(
  summary: SummaryRow[],
  ratioRows: RatioRow[],
  subscribers: number,
  measurements: Measurement[] = []
): TargetCheck[] {
  const checks: TargetCheck[] = []
  if (subscribers !== 2) return checks
  const add = (transport: Transport, what: string, value: number, goal: string, met: boolean) =>
    checks.push({ transport, what, value, goal, met: met && Number.isFinite(value) })
  for (const row of ratioRows.filter((r) => r.size === TARGET_SIZE)) {
    if (row.versus === 'bare') {
      add(row.transport, 'throughput vs bare client', row.throughput, '≥ 0.9×', row.throughput >= 0.9)
      add(row.transport, 'p99 latency vs bare client', row.p99, '≤ 1.5×', row.p99 <= 1.5)
    } else if (row.versus === 'fanout-durable') {
      const share = durableShare(row)
      add(row.transport, 'durable throughput vs pub/sub', share, '≥ 0.7×', share >= 0.7)
    } else if (row.versus === 'feathers-sync') {
      const factor = FEATHERS_SYNC_FACTOR[row.transport]
      if (factor !== undefined) {
        add(
          row.transport,
          'throughput vs feathers-sync',
          row.throughput,
          `≥ ${factor}×`,
          row.throughput >= factor
        )
      }
    }
  }
  // The options recommended to a fleet without feathers-sync instances: batched frames (`batch: true`).
  for (const row of summary.filter((r) => r.impl === 'fanout-batch' && r.size === TARGET_SIZE)) {
    const value = pairedThroughput(measurements, [row.transport, row.size], 'fanout-batch', 'bare')
    if (value !== undefined) {
      add(row.transport, 'recommended options (`batch: true`) vs bare client', value, '≥ 1.5×', value >= 1.5)
    }
  }
  // Durable delivery with the recommended options, against pub/sub with the same options.
  for (const row of summary.filter((r) => r.impl === 'fanout-durable-batch' && r.size === TARGET_SIZE)) {
    const value = pairedThroughput(
      measurements,
      [row.transport, row.size],
      'fanout-durable-batch',
      'fanout-batch'
    )
    if (value !== undefined) {
      add(
        row.transport,
        'durable throughput vs pub/sub, both with `batch: true`',
        value,
        '≥ 0.7×',
        value >= 0.7
      )
    }
  }
  for (const row of summary.filter((r) => r.impl === 'fanout' && r.size === TARGET_SIZE)) {
    const local = row.localP99 ?? NaN
    add(row.transport, "sender's local delivery p99 (ms)", local, '< 1 ms', local < 1)
  }
  for (const row of summary.filter((r) => r.impl === 'fanout' || r.impl === 'fanout-durable')) {
    const what = row.impl === 'fanout' ? 'delivered ratio' : 'durable delivered ratio'
    add(row.transport, `${what}, ${sizeLabel(row.size)}`, row.delivered, '= 1.0', row.delivered === 1)
  }
  return checks
}
