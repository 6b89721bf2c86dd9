/**
 * What durable delivery costs, for docs/benchmarks.md: per transport, the throughput, latency and CPU of
 * `fanout-durable` (`durable: true`) against plain pub/sub (`fanout`) in the same run.
 */
import { sizeLabel } from './format'
import { pairedThroughput, type Measurement, type RatioRow, type SummaryRow } from './summary'

/** Durable over pub/sub throughput for a ratio row of `fanout` against `fanout-durable`. */
export const durableShare = (row: RatioRow): number => 1 / row.throughput

export function durableCost(
  summary: SummaryRow[],
  ratioRows: RatioRow[],
  command: string,
  measurements: Measurement[] = []
): string[] {
  const lines = ['### What durable delivery costs', '']
  const rows = ratioRows.filter((row) => row.versus === 'fanout-durable')
  for (const row of rows) {
    const of = (impl: SummaryRow['impl']) =>
      summary.find((s) => s.transport === row.transport && s.size === row.size && s.impl === impl)
    const [plain, durable] = [of('fanout'), of('fanout-durable')]
    const cpu =
      plain && durable
        ? `; CPU per event: publisher ${durable.publisherCpuUs.toFixed(1)} µs (pub/sub ${plain.publisherCpuUs.toFixed(1)}), ` +
          `server ${durable.serverCpuUs.toFixed(1)} µs (pub/sub ${plain.serverCpuUs.toFixed(1)})`
        : ''
    lines.push(
      `- ${row.transport}, ${sizeLabel(row.size)}: \`durable: true\` gives ${durableShare(row).toFixed(2)}× the throughput ` +
        `of plain pub/sub, p99 latency ${(1 / row.p99).toFixed(2)}×${cpu}.`
    )
  }
  for (const row of summary.filter((s) => s.impl === 'fanout-durable-batch')) {
    const share = pairedThroughput(
      measurements,
      [row.transport, row.size],
      'fanout-durable-batch',
      'fanout-batch'
    )
    const batched = summary.find(
      (s) => s.transport === row.transport && s.size === row.size && s.impl === 'fanout-batch'
    )
    if (share === undefined || !batched) continue
    lines.push(
      `- ${row.transport}, ${sizeLabel(row.size)}, both with \`batch: true\`: durable gives ${share.toFixed(2)}× ` +
        `the throughput of pub/sub (${row.eventsPerSecond.toFixed(0)} against ${batched.eventsPerSecond.toFixed(0)} events/s); ` +
        `CPU per event: publisher ${row.publisherCpuUs.toFixed(1)} µs (pub/sub ${batched.publisherCpuUs.toFixed(1)}), ` +
        `server ${row.serverCpuUs.toFixed(1)} µs (pub/sub ${batched.serverCpuUs.toFixed(1)}).`
    )
  }
  if (rows.length === 0) {
    lines.push(
      '- Not measured in this run; `npm run bench -- --broker redis,nats --impl fanout,fanout-durable` compares both.'
    )
  }
  lines.push(
    '',
    'Each durable event is stored in the broker (a Redis stream entry, a JetStream message) and confirmed',
    '(the `XADD` reply, the PubAck) before the publisher counts it as sent; subscribers read the log from',
    'their position instead of a live subscription. See [delivery-guarantees.md](delivery-guarantees.md).',
    `Measured by \`${command}\`.`
  )
  return lines
}
