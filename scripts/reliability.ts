/**
 * Renders the figures of a fault-suite run (scripts/results/faults/*.json, written by
 * `FANOUT_FIGURES=scripts/results/faults npx jest test/faults`) and of the soak run
 * (scripts/results/soak.json, `npm run soak`) into docs/reliability.md, between its marker comments.
 *
 *   npx tsx scripts/reliability.ts [--figures scripts/results/faults] [--print]
 */
import fs from 'node:fs'
import path from 'node:path'
import type { ScenarioFigures, TargetFigures } from '../test/faults/figures'
import { HEADER, row } from './soak/index'
import type { SoakResult } from './soak/run'

const ROOT = path.join(__dirname, '..')
const DOC = path.join(ROOT, 'docs', 'reliability.md')
const ORDER = ['redis', 'amqp', 'nats', 'cluster', 'redis-durable', 'nats-durable', 'amqp-durable']
const TITLES: Record<string, string> = {
  redis: 'Redis',
  amqp: 'RabbitMQ',
  nats: 'NATS',
  cluster: 'Node cluster (no broker)',
  'redis-durable': 'Redis Streams, `durable` (appendfsync always)',
  'nats-durable': 'NATS JetStream, `durable` (file store)',
  'amqp-durable': 'RabbitMQ streams, `durable` (stream queue on disk)'
}

const argument = (name: string, fallback: string) => {
  const at = process.argv.indexOf(`--${name}`)
  return at > 0 ? process.argv[at + 1] : fallback
}
const n = (value: number) => value.toLocaleString('en')
const table = (header: string[], rows: string[][]) =>
  [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n')

function notes(s: ScenarioFigures): string {
  const parts: string[] = []
  if (s.garbage) {
    const counted = Object.entries(s.garbage).map(([reason, count]) => `${count} ${reason}`)
    parts.push(`each instance counted ${counted.join(', ')}`)
  }
  if (s.burst)
    parts.push(`${n(s.burst.perInstance)} per instance, all delivered in ${n(s.burst.drainedMs)} ms`)
  if (s.killed) {
    parts.push(
      `the killed instance had created ${s.killed.knownSent} when last asked; the others got ${s.killed.deliveredPerReceiver.join(' and ')}, no gap`
    )
  }
  if (s.durable) {
    const { readyMs, catchUpMs, redelivered } = s.durable
    parts.push(
      `every instance ready ${n(readyMs)} ms after the fault ended; every event created before then ` +
        `delivered everywhere ${n(catchUpMs)} ms after it ended`
    )
    if (redelivered > 0)
      parts.push(`${n(redelivered)} events the killed instance had got came again to its successor`)
  }
  if (s.recoveryMs !== null && !s.killed && s.reconnects === 0 && !s.durable) {
    parts.push('no instance noticed: publishes waited in the client until the broker answered again')
  }
  if (s.inFlightHandedMs) {
    const [first, last] = s.inFlightHandedMs.map((ms) => (ms < 0 ? `${-ms} ms before` : `${ms} ms after`))
    parts.push(
      `the lost ones were handed to the client ${first === last ? first : `${first} to ${last}`} the fault began`
    )
  }
  if (s.outboxOverflow > 0) parts.push(`${n(s.outboxOverflow)} pushed out of full outboxes (counted)`)
  if (s.socketsLeft > 0)
    parts.push(`${s.socketsLeft} sockets left by the client, closed ${n(s.socketsSettledMs ?? 0)} ms later`)
  return parts.join('; ')
}

function faultTable(figures: TargetFigures): string {
  const rows = figures.scenarios.map((s) => [
    s.title,
    n(s.sent),
    `${n(s.delivered)} / ${n(s.expected)}`,
    n(s.lost.dropped),
    n(s.lost.inFlight),
    n(s.lost.away),
    n(s.lost.vanished),
    s.queued.events === 0
      ? '–'
      : `${n(s.queued.events)} → ${n(s.queued.delivered)} / ${n(s.queued.expected)}`,
    `${n(s.resent)} / ${n(s.duplicatesDropped)}`,
    s.recoveryMs === null ? '–' : `${n(s.recoveryMs)} ms`,
    notes(s)
  ])
  const header = [
    'scenario',
    'events sent',
    'deliveries',
    'dropped, counted',
    'lost in flight',
    'missed while away',
    'unaccounted',
    'queued in outbox → delivered',
    'resent / copies dropped',
    'ready again',
    'notes'
  ]
  const first = figures.scenarios[0]
  const hold = figures.durable
    ? 'no resume hold (durable)'
    : `resume delay ${n(first?.resumeDelayMs ?? 0)} ms`
  const setup =
    `${figures.broker}, ${figures.instances} instances in separate processes, ${figures.rateHz} events/s each, ` +
    `outbox bound ${n(figures.outboxMaxMessages)} messages, ${hold}; ` +
    `Node ${figures.node}, ${figures.date.slice(0, 10)}.`
  return `### ${TITLES[figures.target] ?? figures.target}\n\n${setup}\n\n${table(header, rows)}`
}

function replaceBetween(text: string, name: string, body: string): string {
  const start = `<!-- ${name}:start -->`
  const end = `<!-- ${name}:end -->`
  const from = text.indexOf(start)
  const to = text.indexOf(end)
  if (from < 0 || to < from) throw new Error(`docs/reliability.md has no ${start} … ${end} markers`)
  return `${text.slice(0, from + start.length)}\n\n${body}\n\n${text.slice(to)}`
}

function main(): void {
  const dir = path.resolve(argument('figures', path.join(ROOT, 'scripts', 'results', 'faults')))
  const targets = fs
    .readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .map((file) => JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as TargetFigures)
    .sort((a, b) => ORDER.indexOf(a.target) - ORDER.indexOf(b.target))
  const faults = targets.map(faultTable).join('\n\n')
  const soakFile = path.join(ROOT, 'scripts', 'results', 'soak.json')
  const soak = fs.existsSync(soakFile)
    ? (JSON.parse(fs.readFileSync(soakFile, 'utf8')) as { results: SoakResult[] }).results
    : []
  const soakText =
    soak.length === 0
      ? '_No soak results yet: run `npm run soak`._'
      : `${table(HEADER, soak.map(row))}\n\n${soak.map((r) => `${r.target}: ${r.broker}`).join('; ')}.`
  if (process.argv.includes('--print')) {
    process.stdout.write(`${faults}\n\n${soakText}\n`)
    return
  }
  let text = fs.readFileSync(DOC, 'utf8')
  text = replaceBetween(text, 'faults', faults)
  text = replaceBetween(text, 'soak', soakText)
  fs.writeFileSync(DOC, text)
  process.stdout.write(
    `Updated ${path.relative(process.cwd(), DOC)} from ${path.relative(process.cwd(), dir)} and ${path.relative(process.cwd(), soakFile)}\n`
  )
}

main()
