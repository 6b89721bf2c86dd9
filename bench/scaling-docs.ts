/**
 * The "How cost grows" section of docs/benchmarks.md and its chart, docs/benchmarks-scaling.svg: one
 * panel per event size, fan-out throughput against the number of subscribing processes, one line per
 * broker (solid: feathers-fanout, dashed: the bare client).
 */
import { sizeLabel } from './format'
import type { Transport } from './protocol'
import type { ScalingPoint } from './scaling'
import { ratio } from './stats'

const COLORS: Record<Transport, string> = {
  redis: '#c53030',
  amqp: '#dd8452',
  nats: '#2b6cb0',
  cluster: '#2f855a'
}
const PANEL = { width: 320, height: 250, top: 40, bottom: 40, left: 56, right: 14 }

const short = (value: number): string =>
  value >= 1e3 ? `${+(value / 1e3).toFixed(1)}k` : `${+value.toFixed(1)}`
const count = (n: number): string => Math.round(n).toLocaleString('en-US')

function panel(points: ScalingPoint[], size: number, counts: number[], x0: number): string {
  const { width, height, top, bottom, left, right } = PANEL
  const rows = points.filter((p) => p.size === size)
  const max = Math.max(...rows.map((p) => p.eventsPerSecond).filter(Number.isFinite), 1)
  const power = 10 ** Math.floor(Math.log10(max / 4))
  const tick = [1, 2, 5, 10].map((f) => f * power).find((s) => s >= max / 4) ?? max / 4
  const top_ = Math.ceil(max / tick) * tick
  const plotW = width - left - right
  const plotH = height - top - bottom
  const x = (i: number) => x0 + left + (counts.length === 1 ? plotW / 2 : (i / (counts.length - 1)) * plotW)
  const y = (v: number) => top + plotH - (v / top_) * plotH
  const parts = [
    `<text x="${x0 + width / 2}" y="18" class="title">${sizeLabel(size)} events: events/s</text>`
  ]
  for (let v = 0; v <= top_ + tick / 2; v += tick) {
    parts.push(
      `<line x1="${x0 + left}" x2="${x0 + width - right}" y1="${y(v)}" y2="${y(v)}" class="grid"/>`,
      `<text x="${x0 + left - 5}" y="${y(v) + 4}" class="tick">${short(v)}</text>`
    )
  }
  counts.forEach((n, i) => parts.push(`<text x="${x(i)}" y="${top + plotH + 16}" class="label">${n}</text>`))
  parts.push(
    `<text x="${x0 + left + plotW / 2}" y="${top + plotH + 32}" class="label">subscribing processes</text>`
  )
  for (const transport of [...new Set(rows.map((p) => p.transport))]) {
    for (const impl of ['fanout', 'bare'] as const) {
      const line = counts.flatMap((n, i) => {
        const point = rows.find((p) => p.transport === transport && p.impl === impl && p.subscribers === n)
        return point && Number.isFinite(point.eventsPerSecond)
          ? [`${x(i).toFixed(1)},${y(point.eventsPerSecond).toFixed(1)}`]
          : []
      })
      if (line.length === 0) continue
      const dash = impl === 'bare' ? ' stroke-dasharray="5,4"' : ''
      parts.push(
        `<polyline points="${line.join(' ')}" fill="none" stroke="${COLORS[transport]}" stroke-width="2"${dash}>` +
          `<title>${transport}, ${impl === 'fanout' ? 'feathers-fanout' : 'bare client'}</title></polyline>`
      )
    }
  }
  return parts.join('\n')
}

/** The SVG: one panel per size of the curve. */
/** One line per point that lost events, with what the broker and the instances said about it. */
function losses(points: ScalingPoint[]): string[] {
  const lossy = points.filter((p) => p.delivered < 1)
  if (lossy.length === 0) return []
  return [
    "Points where a subscriber did not get every event, and why (from the broker's log and what the",
    'instances reported; the bare clients report nothing). See [redis.md](redis.md#reliability) for the',
    'Redis pub/sub output buffer limit, [nats.md](nats.md#liveness-busy-clients-and-slow-consumers) for',
    "the NATS server's max_pending.",
    '',
    ...lossy.map(
      (p) =>
        `- ${p.transport} ${p.impl}, ${p.subscribers} subscribers, ${sizeLabel(p.size)}: delivered ${p.delivered.toFixed(4)}; ` +
        (p.lost ?? 'nothing reported')
    ),
    ''
  ]
}

export function scalingChart(points: ScalingPoint[]): string {
  const sizes = [...new Set(points.map((p) => p.size))].sort((a, b) => a - b)
  const counts = [...new Set(points.map((p) => p.subscribers))].sort((a, b) => a - b)
  const transports = [...new Set(points.map((p) => p.transport))]
  const width = PANEL.width * sizes.length + 10 * (sizes.length - 1)
  const height = PANEL.height + 34
  const legend = [
    ...transports.map(
      (t, i) =>
        `<line x1="${PANEL.left + i * 110}" x2="${PANEL.left + i * 110 + 22}" y1="${PANEL.height + 16}" y2="${PANEL.height + 16}" stroke="${COLORS[t]}" stroke-width="2"/>` +
        `<text x="${PANEL.left + i * 110 + 28}" y="${PANEL.height + 20}" class="legend">${t}</text>`
    ),
    `<text x="${PANEL.left + transports.length * 110}" y="${PANEL.height + 20}" class="legend">solid: feathers-fanout, dashed: bare client</text>`
  ]
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    '<style>.title{font-size:13px;font-weight:bold;text-anchor:middle}.tick{font-size:10px;text-anchor:end;fill:#555}' +
      '.label{font-size:11px;text-anchor:middle}.legend{font-size:11px}.grid{stroke:#ddd;stroke-width:1}</style>',
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...sizes.map((size, i) => panel(points, size, counts, i * (PANEL.width + 10))),
    ...legend,
    '</svg>',
    ''
  ].join('\n')
}

const cpu = (p: ScalingPoint | undefined): string =>
  p ? `${p.publisherCpuUs.toFixed(1)} / ${p.subscriberCpuUs.toFixed(1)} / ${p.serverCpuUs.toFixed(1)}` : '–'

/** The sizing paragraph: what one publisher reaches with each fleet size, 200 B events. */
function sizing(points: ScalingPoint[]): string[] {
  const smallest = Math.min(...points.map((p) => p.size))
  const lines: string[] = []
  for (const transport of [...new Set(points.map((p) => p.transport))]) {
    const curve = points
      .filter((p) => p.transport === transport && p.impl === 'fanout' && p.size === smallest)
      .sort((a, b) => a.subscribers - b.subscribers)
    if (curve.length === 0) continue
    const first = curve[0]
    const last = curve[curve.length - 1]
    const perSubscriber =
      last.subscribers > first.subscribers
        ? (last.serverCpuUs - first.serverCpuUs) / (last.subscribers - first.subscribers)
        : NaN
    lines.push(
      `- ${transport}: ${curve.map((p) => `${count(p.eventsPerSecond)} events/s to ${p.subscribers}`).join(', ')} ` +
        `subscribing processes; each more subscriber costs the broker about ${perSubscriber.toFixed(1)} µs of CPU per event.`
    )
  }
  return lines
}

/** The Markdown section; empty when the run did not measure the curve. */
export function scalingSection(points: ScalingPoint[], command: string): string[] {
  if (points.length === 0) {
    return [
      '## How cost grows',
      '',
      'Not measured in this run; `npm run bench -- --scaling` (part of the full run) measures it.'
    ]
  }
  const keys = [...new Set(points.map((p) => `${p.transport}|${p.size}|${p.subscribers}`))]
  const rows = keys.map((key) => {
    const [transport, size, subscribers] = key.split('|')
    const of = (impl: ScalingPoint['impl']) =>
      points.find(
        (p) =>
          p.transport === transport &&
          p.size === Number(size) &&
          p.subscribers === Number(subscribers) &&
          p.impl === impl
      )
    const [ours, bare] = [of('fanout'), of('bare')]
    const local =
      ours?.localP50 != null && ours.localP99 != null
        ? `${ours.localP50.toFixed(3)} / ${ours.localP99.toFixed(3)}`
        : ''
    const delivered = Math.min(ours?.delivered ?? NaN, bare?.delivered ?? NaN)
    return (
      `| ${transport} | ${sizeLabel(Number(size))} | ${subscribers} | ${ours ? count(ours.eventsPerSecond) : '–'} | ` +
      `${bare ? count(bare.eventsPerSecond) : '–'} | ${ratio(ours?.eventsPerSecond ?? NaN, bare?.eventsPerSecond ?? NaN).toFixed(2)}× | ` +
      `${cpu(ours)} | ${cpu(bare)} | ${local} | ${Number.isFinite(delivered) ? delivered.toFixed(4) : '–'} |`
    )
  })
  return [
    '## How cost grows',
    '',
    '![Fan-out throughput against the number of subscribing processes, per event size and broker](benchmarks-scaling.svg)',
    '',
    'One publishing process and 1, 2, 4 or 8 subscribing processes, one burst per point (after a warm-up',
    'burst), feathers-fanout with default options against the bare client in the same run. Events/s is what',
    'the slowest subscriber received; CPU is µs per event at the publisher / the busiest subscriber / the',
    'broker; "local" is the publishing instance\'s own listener at a fixed rate (p50 / p99, ms, 200 B only).',
    '',
    '| broker | event | subscribers | fanout events/s | bare events/s | ×bare | fanout CPU µs pub / sub / broker | bare CPU µs pub / sub / broker | local p50 / p99 ms | delivered |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    ...losses(points),
    '### Sizing a fleet',
    '',
    'On this two-core machine every process (publisher, subscribers, broker) shares the same two cores, so',
    'the curve shows the cost of a fleet, not a network limit. Per broker, the 200 B events/s one publisher',
    'delivered to every subscriber:',
    '',
    ...sizing(points),
    '',
    'Every event costs the publisher once (pub column), each subscribing instance once (sub column), and the',
    'broker for each subscriber it sends to (broker column, the total). Where all share the same cores, one publisher',
    'delivers at most about cores × 1,000,000 / (pub + N × sub + broker) events/s to N subscribers, so the',
    'rate falls roughly as 1 / N once the subscribers dominate; with subscribers on machines of their own, the',
    "publisher's and the broker's columns set the ceiling. In a fleet of N instances that all publish, the",
    'figure for N − 1 subscribers is shared among the publishers. Other work shared this machine (see the',
    `load average above): expect more on an idle one. Measured by \`${command}\`.`
  ]
}
