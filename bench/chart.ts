/**
 * The chart of docs/benchmarks.md, written as SVG by hand: two panels of grouped bars, one group per
 * transport and one bar per implementation, for throughput and for p99 latency (200-byte events).
 */
import type { Impl, Transport } from './protocol'
import type { SummaryRow } from './summary'

const COLORS: Record<Impl, string> = {
  fanout: '#2b6cb0',
  'fanout-lean': '#63b3ed',
  'fanout-durable': '#2f855a',
  'fanout-batch': '#553c9a',
  'fanout-durable-batch': '#68d391',
  'feathers-sync': '#dd8452',
  bare: '#8c8c8c'
}
const LABELS: Record<Impl, string> = {
  fanout: 'feathers-fanout',
  'fanout-lean': 'feathers-fanout, includeResult: false',
  'fanout-durable': 'feathers-fanout, durable: true',
  'fanout-batch': 'feathers-fanout, batch: true',
  'fanout-durable-batch': 'feathers-fanout, durable and batch',
  'feathers-sync': 'feathers-sync 3.1.1',
  bare: 'bare client'
}
const PANEL = { width: 440, height: 260, top: 48, bottom: 40, left: 64, right: 16 }

const escape = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** A round step for axis ticks: 1, 2 or 5 times a power of ten, about `max / 4`. */
function step(max: number): number {
  const raw = max / 4
  const power = 10 ** Math.floor(Math.log10(raw))
  return [1, 2, 5, 10].map((f) => f * power).find((s) => s >= raw) ?? raw
}

const short = (value: number): string =>
  value >= 1e6
    ? `${+(value / 1e6).toFixed(1)}M`
    : value >= 1e3
      ? `${+(value / 1e3).toFixed(1)}k`
      : `${+value.toFixed(2)}`

interface Panel {
  title: string
  value: (row: SummaryRow) => number
}

function panel(rows: SummaryRow[], transports: Transport[], impls: Impl[], spec: Panel, x0: number): string {
  const { width, height, top, bottom, left, right } = PANEL
  const plotWidth = width - left - right
  const plotHeight = height - top - bottom
  const values = rows.map(spec.value).filter(Number.isFinite)
  const tick = step(Math.max(...values, 1e-9))
  const max = Math.ceil(Math.max(...values, 1e-9) / tick) * tick
  const y = (value: number) => top + plotHeight - (value / max) * plotHeight
  const parts = [`<text x="${x0 + width / 2}" y="20" class="title">${escape(spec.title)}</text>`]
  for (let value = 0; value <= max + tick / 2; value += tick) {
    parts.push(
      `<line x1="${x0 + left}" x2="${x0 + width - right}" y1="${y(value)}" y2="${y(value)}" class="grid"/>`,
      `<text x="${x0 + left - 6}" y="${y(value) + 4}" class="tick">${short(value)}</text>`
    )
  }
  const groupWidth = plotWidth / transports.length
  const barWidth = (groupWidth * 0.8) / impls.length
  transports.forEach((transport, g) => {
    const gx = x0 + left + g * groupWidth
    parts.push(
      `<text x="${gx + groupWidth / 2}" y="${top + plotHeight + 18}" class="label">${transport}</text>`
    )
    impls.forEach((impl, b) => {
      const row = rows.find((r) => r.transport === transport && r.impl === impl)
      const bx = gx + groupWidth * 0.1 + b * barWidth
      if (!row || !Number.isFinite(spec.value(row))) {
        parts.push(`<text x="${bx + barWidth / 2}" y="${y(0) - 4}" class="value">n/a</text>`)
        return
      }
      const value = spec.value(row)
      const h = Math.max(1, y(0) - y(value))
      parts.push(
        `<rect x="${bx.toFixed(1)}" y="${(y(0) - h).toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[impl]}"><title>${LABELS[impl]} on ${transport}: ${short(value)}</title></rect>`,
        `<text x="${(bx + barWidth / 2 - 1).toFixed(1)}" y="${(y(0) - h - 4).toFixed(1)}" class="value">${short(value)}</text>`
      )
    })
  })
  return parts.join('\n')
}

/** The SVG for the 200-byte rows of `summary`. */
export function chart(summary: SummaryRow[], size: number, perSecond: number): string {
  const rows = summary.filter((row) => row.size === size)
  const transports = [...new Set(rows.map((row) => row.transport))]
  const impls = (
    ['fanout', 'fanout-lean', 'fanout-durable', 'fanout-batch', 'feathers-sync', 'bare'] as Impl[]
  ).filter((impl) => rows.some((r) => r.impl === impl))
  const width = PANEL.width * 2 + 20
  const height = PANEL.height + 30
  const legend = impls
    .map(
      (impl, i) =>
        `<rect x="${PANEL.left + i * 190}" y="${PANEL.height + 6}" width="12" height="12" fill="${COLORS[impl]}"/>` +
        `<text x="${PANEL.left + i * 190 + 18}" y="${PANEL.height + 16}" class="legend">${LABELS[impl]}</text>`
    )
    .join('\n')
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    '<style>.title{font-size:13px;font-weight:bold;text-anchor:middle}.tick{font-size:10px;text-anchor:end;fill:#555}' +
      '.label{font-size:12px;text-anchor:middle}.value{font-size:9px;text-anchor:middle;fill:#333}.legend{font-size:11px}' +
      '.grid{stroke:#ddd;stroke-width:1}</style>',
    `<rect width="${width}" height="${height}" fill="white"/>`,
    panel(
      rows,
      transports,
      impls,
      { title: `Fan-out throughput, events/s (higher is better)`, value: (r) => r.eventsPerSecond },
      0
    ),
    panel(
      rows,
      transports,
      impls,
      {
        title: `p99 latency at ${perSecond.toLocaleString('en-US')} events/s, ms (lower is better)`,
        value: (r) => r.p99
      },
      PANEL.width + 20
    ),
    legend,
    '</svg>',
    ''
  ].join('\n')
}
