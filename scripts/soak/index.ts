/**
 * `npm run soak`: pushes a million events (by default) through each broker with three app instances in
 * separate processes, with every option at its default, and checks that their memory stays flat:
 * heap after a full GC, and RSS, sampled at every tenth of the run. Prints a table and writes
 * scripts/results/soak.json (results of brokers not run this time are kept).
 *
 * With `--durable`, the instances run with `durable: true` (its default retention) on the brokers that
 * keep messages, and the results are named `<broker>-durable`. With `--batch`, they also run with
 * `batch: true` (batched frames), and the names end in `-batch`.
 *
 *   npm run soak -- [--brokers redis,nats,amqp] [--events 1000000] [--instances 3] [--minutes 10] [--durable] [--batch]
 */
import fs from 'node:fs'
import path from 'node:path'
import { startNats, startRabbitMq, startRedis, type BrokerHandle } from '../../test/brokers'
import { amqpTarget, natsTarget, redisTarget } from '../../test/faults/targets'
import { soak, type SoakResult, type SoakTarget } from './run'

// Every option at its default: the soak measures the library as an app would use it.
const target = (
  name: string,
  start: () => Promise<BrokerHandle>,
  version: SoakTarget['version'],
  durable = false
): SoakTarget => ({
  name,
  start,
  options: (broker, key) => (durable ? { uri: broker.url, key, durable: true } : { uri: broker.url, key }),
  version
})
const TARGETS: Record<string, SoakTarget> = {
  redis: target('redis', () => startRedis(), redisTarget.version),
  nats: target('nats', () => startNats({ jetstream: false }), natsTarget.version),
  amqp: target('amqp', () => startRabbitMq(), amqpTarget.version)
}
/** Durable delivery: Redis with its append-only file written on every command, NATS with JetStream. */
const DURABLE_TARGETS: Record<string, SoakTarget> = {
  redis: target(
    'redis-durable',
    () => startRedis({ extraArgs: ['--appendonly', 'yes', '--appendfsync', 'always'] }),
    redisTarget.version,
    true
  ),
  nats: target('nats-durable', () => startNats({ jetstream: true }), natsTarget.version, true)
}
/** The same targets with `batch: true`, named `<name>-batch`. */
const batched = (targets: Record<string, SoakTarget>): Record<string, SoakTarget> =>
  Object.fromEntries(
    Object.entries(targets).map(([broker, soakTarget]) => [
      broker,
      {
        ...soakTarget,
        name: `${soakTarget.name}-batch`,
        options: (handle: BrokerHandle, key: string) => ({ ...soakTarget.options(handle, key), batch: true })
      }
    ])
  )
const OUT = path.join(__dirname, '..', 'results', 'soak.json')

function argument(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`)
  return at > 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1)

/** Least-squares slope of `values` against `xs`. */
function slope(xs: number[], values: number[]): number {
  const n = xs.length
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = values.reduce((a, b) => a + b, 0) / n
  const num = xs.reduce((sum, x, i) => sum + (x - mx) * (values[i] - my), 0)
  const den = xs.reduce((sum, x) => sum + (x - mx) ** 2, 0)
  return den === 0 ? 0 : num / den
}

/**
 * Memory of the instance that used most, after warm-up (the samples from 10 % of the events on): heap
 * after a full GC at 10 %, its highest, at the end, and its trend in MB per 100 000 events; RSS alike.
 */
export function row(result: SoakResult): string[] {
  const warm = result.samples.filter((s) => s.at >= 0.1)
  const samples = warm.length > 1 ? warm : result.samples
  const heap = samples.map((s) => Math.max(...s.heapUsed))
  const rss = samples.map((s) => Math.max(...s.rss))
  const trend = slope(
    samples.map((s) => (s.at * result.events) / 100_000),
    heap.map((bytes) => bytes / 1024 / 1024)
  )
  return [
    result.target,
    result.events.toLocaleString('en'),
    `${(result.durationMs / 1000).toFixed(0)} s`,
    Math.round((result.events * 1000) / result.durationMs).toLocaleString('en'),
    `${result.deliveries.toLocaleString('en')} / ${result.expectedDeliveries.toLocaleString('en')}`,
    `${result.gaps} / ${result.duplicates}`,
    `${mb(heap[0])} / ${mb(Math.max(...heap))} / ${mb(heap[heap.length - 1])}`,
    `${trend >= 0 ? '+' : ''}${trend.toFixed(2)}`,
    `${mb(rss[0])} / ${mb(Math.max(...rss))} / ${mb(rss[rss.length - 1])}`,
    result.completed ? 'yes' : 'NO (time bound)'
  ]
}

export const HEADER = [
  'broker',
  'events',
  'time',
  'events/s',
  'deliveries',
  'gaps / dups',
  'heap MB after GC (10% / max / end)',
  'heap trend MB per 100k events',
  'RSS MB (10% / max / end)',
  'completed'
]

async function main(): Promise<void> {
  const durable = process.argv.includes('--durable')
  const batch = process.argv.includes('--batch')
  const targets = batch ? batched(durable ? DURABLE_TARGETS : TARGETS) : durable ? DURABLE_TARGETS : TARGETS
  const names = argument('brokers', durable ? 'redis,nats' : 'redis,nats,amqp').split(',')
  const events = Number(argument('events', '1000000'))
  const instances = Number(argument('instances', '3'))
  const maxMs = Number(argument('minutes', '10')) * 60_000
  const unknown = names.filter((name) => !targets[name])
  if (unknown.length > 0)
    throw new Error(`unknown broker(s) ${unknown.join(', ')}; use ${Object.keys(targets)}`)
  const results: SoakResult[] = []
  for (const name of names) {
    process.stdout.write(`${name}: ${events.toLocaleString('en')} events, ${instances} instances …\n`)
    const result = await soak(targets[name], events, instances, maxMs)
    results.push(result)
    process.stdout.write(`${row(result).join(' | ')}\n`)
  }
  const previous = fs.existsSync(OUT)
    ? (JSON.parse(fs.readFileSync(OUT, 'utf8')) as { results: SoakResult[] })
    : undefined
  const ran = results.map((r) => r.target)
  const kept = (previous?.results ?? []).filter((r) => !ran.includes(r.target))
  const all = [...kept, ...results].sort((a, b) => a.target.localeCompare(b.target))
  fs.mkdirSync(path.dirname(OUT), { recursive: true })
  fs.writeFileSync(
    OUT,
    `${JSON.stringify({ node: process.version, date: new Date().toISOString(), results: all }, null, 2)}\n`
  )
  console.table(all.map((result) => Object.fromEntries(row(result).map((cell, i) => [HEADER[i], cell]))))
  process.stdout.write(`Written to ${path.relative(process.cwd(), OUT)}\n`)
  if (
    results.some(
      (r) => !r.completed || r.gaps > 0 || r.duplicates > 0 || r.deliveries !== r.expectedDeliveries
    )
  ) {
    process.exitCode = 1
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
}
