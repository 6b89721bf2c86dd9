/** The results as text: a console table and the same rows as Markdown. */
import type { TargetCheck } from './targets'
import type { RatioRow, SummaryRow } from './summary'

const HEADER = [
  'transport',
  'implementation',
  'event',
  'events/s',
  '×bare',
  '×f-sync',
  'p50 ms',
  'p99 ms',
  'max ms',
  'local p50',
  'local p99',
  'CPU µs pub',
  'CPU µs sub',
  'CPU µs server',
  'sub RSS MB',
  'delivered'
]

const fixed = (value: number | null, digits: number): string =>
  value === null ? 'n/a' : Number.isFinite(value) ? value.toFixed(digits) : '–'

export const sizeLabel = (size: number): string =>
  size >= 1024 ? `${Math.round(size / 1024)} kB` : `${size} B`

function ratioOf(ratioRows: RatioRow[], row: SummaryRow, versus: RatioRow['versus']): string {
  if (row.impl !== 'fanout') return ''
  const found = ratioRows.find(
    (r) => r.transport === row.transport && r.size === row.size && r.versus === versus
  )
  if (found) return `${found.throughput.toFixed(2)}×`
  return versus === 'feathers-sync' && row.transport === 'cluster' ? 'n/a' : '–'
}

/** One line of cells per summary row. */
export function cells(summary: SummaryRow[], ratioRows: RatioRow[]): string[][] {
  return summary.map((row) => [
    row.transport,
    row.impl,
    sizeLabel(row.size),
    Math.round(row.eventsPerSecond).toLocaleString('en-US'),
    ratioOf(ratioRows, row, 'bare'),
    ratioOf(ratioRows, row, 'feathers-sync'),
    fixed(row.p50, 2),
    fixed(row.p99, 2),
    fixed(row.max, 1),
    fixed(row.localP50, 3),
    fixed(row.localP99, 3),
    fixed(row.publisherCpuUs, 1),
    fixed(row.subscriberCpuUs, 1),
    fixed(row.serverCpuUs, 1),
    fixed(row.subscriberRssMb, 0),
    fixed(row.delivered, 4) + (row.duplicates > 0 ? ` (${row.duplicates} dup)` : '')
  ])
}

export function consoleTable(summary: SummaryRow[], ratioRows: RatioRow[]): string {
  const rows = [HEADER, ...cells(summary, ratioRows)]
  const widths = HEADER.map((_, column) => Math.max(...rows.map((row) => row[column].length)))
  const line = (row: string[]) =>
    row
      .map((cell, column) => (column < 3 ? cell.padEnd(widths[column]) : cell.padStart(widths[column])))
      .join('  ')
  return [line(HEADER), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.slice(1).map(line)].join(
    '\n'
  )
}

export function markdownTable(summary: SummaryRow[], ratioRows: RatioRow[]): string {
  const align = HEADER.map((_, column) => (column < 3 ? '---' : '---:'))
  return [HEADER, align, ...cells(summary, ratioRows)].map((row) => `| ${row.join(' | ')} |`).join('\n')
}

export function targetLines(checks: TargetCheck[]): string[] {
  return checks.map(
    (check) =>
      `${check.met ? 'met   ' : 'MISSED'}  ${check.transport.padEnd(7)}  ${check.what}: ${
        Number.isFinite(check.value) ? check.value.toFixed(check.value < 10 ? 3 : 1) : '–'
      } (goal ${check.goal})`
  )
}
