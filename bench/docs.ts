/** Writes docs/benchmarks.md and its chart, docs/benchmarks.svg, from a run's results. */
import type { GroupBench } from './groups'
import fs from 'node:fs'
import path from 'node:path'
import { chart } from './chart'
import { durableCost } from './durable'
import { markdownTable, sizeLabel } from './format'
import { machineLine, type Machine } from './machine'
import type { BenchOptions } from './options'
import type { Measurement, RatioRow, SummaryRow } from './summary'
import type { ScalingPoint } from './scaling'
import { scalingChart, scalingSection } from './scaling-docs'
import type { TargetCheck } from './targets'

/** Bytes on the wire for one event of `size` bytes of data. */
export interface WireSize {
  size: number
  /** feathers-fanout's message; the bare clients send the same bytes. */
  fanout: number
  /** feathers-fanout's message with `includeResult: false`. */
  fanoutLean: number
  feathersSync: number
}

/** Everything a run produced; bench/results/latest.json holds it as is. */
export interface BenchResult {
  command: string
  minutes: number
  machine: Machine
  options: BenchOptions
  wire: WireSize[]
  summary: SummaryRow[]
  ratios: RatioRow[]
  targets: TargetCheck[]
  measurements: Measurement[]
  /** Consumer group of 3: handled events per second, per broker with groups. */
  groups?: GroupBench[]
  /** The cost curve (`--scaling`); empty when not measured. */
  scaling?: ScalingPoint[]
}

const DOCS = path.join(__dirname, '..', 'docs')
const count = (n: number): string => n.toLocaleString('en-US')

function setup(result: BenchResult): string[] {
  const { machine, options } = result
  const bursts = options.sizes.map((size) => `${count(options.burst[size])} × ${sizeLabel(size)}`).join(', ')
  return [
    `- Command: \`${result.command}\` (${result.minutes} minutes), ${machine.date.slice(0, 10)}.`,
    `- Machine: ${machineLine(machine)}.`,
    `- Load average (1, 5, 15 min): ${machine.loadStart.join(', ')} before the run, ${machine.loadEnd.join(', ')} at its end ` +
      "(the benchmark's own processes add about 3 while it runs). Other work may share the machine: compare " +
      'implementations within this run, not with numbers from elsewhere.',
    `- Servers: ${Object.values(machine.brokers).join(', ')}, all on loopback.`,
    `- One publishing and ${options.subscribers} subscribing processes per implementation; ${options.runs} rounds; ` +
      `bursts of ${bursts} (feathers-sync on NATS: at most ${count(options.feathersSyncNatsBurst)}); ` +
      `latency at ${count(options.perSecond)} events/s for ${options.rateSeconds} s.`,
    ...result.wire.map(
      (wire) =>
        `- A ${sizeLabel(wire.size)} event is ${count(wire.fanout)} bytes on the wire with feathers-fanout and the bare ` +
        `clients (${count(wire.fanoutLean)} with \`includeResult: false\`), ${count(wire.feathersSync)} with ` +
        `feathers-sync (it also sends the hook context's \`data\`, \`result\` and \`arguments\`).`
    )
  ]
}

/** Every implementation that missed events or doubled them in some round, said plainly. */
function losses(result: BenchResult): string[] {
  const lines: string[] = []
  for (const row of result.summary) {
    const runs = result.measurements.filter(
      (m) => m.transport === row.transport && m.impl === row.impl && m.size === row.size
    )
    const bad = runs.filter((m) => Math.min(m.burst.delivered, m.rate.delivered) < 1)
    if (bad.length > 0) {
      const worst = Math.min(...bad.map((m) => Math.min(m.burst.delivered, m.rate.delivered)))
      lines.push(
        `- ${row.impl} on ${row.transport}, ${sizeLabel(row.size)} events: in ${bad.length} of ${runs.length} rounds ` +
          `a subscriber missed events (at worst it got ${(worst * 100).toFixed(2)} % of them).`
      )
    }
    if (row.duplicates > 0)
      lines.push(
        `- ${row.impl} on ${row.transport}, ${sizeLabel(row.size)} events: ${row.duplicates} duplicates.`
      )
  }
  return lines.length > 0
    ? ['Not every event arrived exactly once:', '', ...lines]
    : ['Every implementation delivered every event exactly once to every subscriber, in every round.']
}

/**
 * What the `includeResult` default costs: bytes from the wire samples, throughput from the rounds of
 * `fanout` paired with those of `fanout-lean` (only when this run measured both).
 */
export function includeResultCost(result: Pick<BenchResult, 'wire' | 'ratios' | 'command'>): string[] {
  const lines = ['### What the `includeResult` default costs', '']
  for (const wire of result.wire) {
    const extra = ((wire.fanout / wire.fanoutLean - 1) * 100).toFixed(0)
    lines.push(
      `- ${sizeLabel(wire.size)} record: ${count(wire.fanout)} bytes per message by default, ${count(wire.fanoutLean)} ` +
        `with \`includeResult: false\` (${extra} % more).`
    )
  }
  const rows = result.ratios.filter((row) => row.versus === 'fanout-lean')
  for (const row of rows) {
    lines.push(
      `- ${row.transport}, ${sizeLabel(row.size)}: throughput by default is ${row.throughput.toFixed(2)}× that with ` +
        `\`includeResult: false\`, p99 latency ${row.p99.toFixed(2)}× (\`${result.command}\`).`
    )
  }
  if (rows.length === 0) {
    lines.push(
      '- Throughput: not measured in this run; `npm run bench -- --broker redis --impl fanout,fanout-lean` compares both.'
    )
  }
  return lines
}

/** One line per broker whose adapter has consumer groups. */
function groupLines(groups: GroupBench[], command: string): string[] {
  const lines = ['### Consumer groups', '']
  for (const group of groups) {
    lines.push(
      `- ${group.transport}: a group of ${group.members} member processes handled ${count(group.events)} events in ` +
        `${group.seconds.toFixed(2)} s, ${count(Math.round(group.eventsPerSecond))} handled events/s; ` +
        `handled twice: ${group.repeats}.`
    )
  }
  if (groups.length === 0) lines.push('- Not measured in this run.')
  lines.push(
    '',
    'Each event is handled by one member of the group (`durable: true`, a group handler that only counts),',
    'published one `create` at a time by an app in the orchestrating process; from the first publish until',
    `every event was handled. Measured by \`${command}\`.`
  )
  return lines
}

function targetList(checks: TargetCheck[]): string[] {
  if (checks.length === 0) return ['Not checked: the targets assume two subscribers.']
  return checks.map(
    (check) =>
      `- ${check.met ? 'met' : '**missed**'}: ${check.transport}, ${check.what}: ` +
      `${Number.isFinite(check.value) ? check.value.toFixed(check.value < 10 ? 2 : 1) : 'not measured'} (goal ${check.goal})`
  )
}

const METHOD = `## What is measured

- **Implementations.** *feathers-fanout*: a Feathers app with a tiny \`messages\` service (its \`create\` returns the
  data with an id, as \`@feathersjs/memory\` does, without storing it) and \`sync({ uri })\` with every default.
  *feathers-sync 3.1.1*: the same app with \`require('feathers-sync')({ uri })\`. *bare client*: ioredis, amqplib
  or nats.js (for cluster: \`process.send\` and a relay in the primary that sends each message on to the other
  workers) publishing and subscribing the very bytes feathers-fanout sends, with the same number of
  connections per process and nothing else: the ceiling for a Node process. The bare AMQP client publishes
  without confirms and the bare NATS client without flushes; the adapters do both, for delivery guarantees.
- **Events** are created through the service (\`service.create()\`), so the whole Feathers path is measured, and
  heard on the \`created\` listener of every subscriber's service.
- **Throughput**: a burst of events sent as fast as the implementation takes them (100 per turn of the event
  loop), from the first \`create\` until the slowest subscriber has the last event; events per second delivered
  to every subscriber.
- **Latency**: events at a fixed rate, each stamped when it is created; p50, p99 and max of the time until each
  subscriber's listener has it (the monotonic clock every process on the machine shares).
- **Local delivery** ("local" columns): on the publishing instance, from the \`create\` call until its own
  listener has the event. feathers-sync emits its own events only when the broker echoes them back.
- **CPU** per event during the bursts: the publisher's and the busiest subscriber's (\`process.cpuUsage()\`),
  and the server's (the broker's processes, read from \`/proc\`; for cluster, the primary that relays).
- **Memory**: the largest subscriber's resident set right after a burst. Each process runs the TypeScript
  sources through tsx, which alone takes about 45 MB of it (83 MB for an empty script, 39 MB for plain Node).
- **Delivered**: distinct events the worst subscriber received over events sent, and duplicates; it must be 1.
  Below 1, the cost curve lists why: subscribers Redis disconnected over its output buffer limit or NATS
  over its max_pending (from the server's log), the events feathers-fanout's subscribers counted as missed (\`dropped.missed\`), and their reports.
- Medians over the rounds. Throughput ratios are the median of the ratios within each round (the
  implementations of a round run back to back and take turns going first), so slow drift of the machine
  cancels; latency ratios compare the medians.`

const NOTES = `## Reading the numbers

- Every process shares two cores with the brokers: throughput is mostly CPU per event, summed over the
  publisher, the subscribers and the broker, and on an otherwise idle machine the publisher is the
  bottleneck. Where feathers-fanout trails a bare client, the CPU columns show where: the Feathers \`create\`
  path and the envelope cost the publisher a few µs per event that a bare client does not spend. Measured
  once in a single process on this machine: a \`create\` of this service with its event costs about 1.1 µs
  without any sync plugin and 3.3 µs with feathers-fanout, of which 1.2 µs is the \`JSON.stringify\` of the
  envelope that a bare client does too.
- **RabbitMQ**: the adapter publishes on a confirm channel so that a message in flight when a connection dies
  is sent again; it waits once per tick for the confirms of that tick's messages, but RabbitMQ still
  confirms each message, and the publisher still decodes the acks: confirms cost the publisher several µs
  per event and RabbitMQ about a third more CPU per event (server column). In a separate run on this
  machine, bare amqplib publishing with confirms was as fast as the adapter (1.00×).
- **NATS**: feathers-sync opens a connection for every event it publishes, so its bursts are capped, and at
  the fixed rate each event's latency includes opening a connection; when that cannot keep up with the rate,
  events queue.
- **Cluster**: the adapter sends the events a worker publishes in one tick as one IPC message, and the relay
  skips the sender when its only app emits local-first, so the relay (server column) spends less per event
  than a bare relay that sends each event on its own; feathers-sync has no cluster adapter (n/a).
- **Redis**: the adapter and the bare client both pipeline a burst into few writes (ioredis
  auto-pipelining); ioredis' per-command cost makes the bare publisher's CPU close to the adapter's.
- A p99 or max of tens of milliseconds on a busy two-core machine is usually a process waiting for a core;
  compare the same column across implementations, and several runs.`

function markdown(result: BenchResult): string {
  return [
    '# Benchmarks',
    '',
    'feathers-fanout next to feathers-sync 3.1.1 and the bare broker clients, measured in one run on one machine',
    'by `npm run bench`, which writes this page. Run it on your own machine for numbers that apply to you.',
    '',
    `![Throughput and p99 latency of ${sizeLabel(result.options.sizes[0])} events per transport and implementation](benchmarks.svg)`,
    '',
    '## Last run',
    '',
    ...setup(result),
    '',
    markdownTable(result.summary, result.ratios),
    '',
    '`×bare` and `×f-sync`: feathers-fanout\'s throughput over theirs. Latencies in ms; "local": the publishing',
    "instance's own listener; CPU in µs per event (publisher, busiest subscriber, broker or relay); RSS of the",
    'largest subscriber. n/a: does not apply.',
    '',
    ...losses(result),
    '',
    ...includeResultCost(result),
    '',
    ...durableCost(result.summary, result.ratios, result.command, result.measurements),
    '',
    ...groupLines(result.groups ?? [], result.command),
    '',
    '### Targets',
    '',
    ...targetList(result.targets),
    '',
    'Where the CPU of each event goes, per function, and the reason for each missed target:',
    '[benchmarks-profile.md](benchmarks-profile.md), written by `npm run bench -- --profile` (which leaves',
    'this page alone).',
    '',
    ...scalingSection(result.scaling ?? [], result.command),
    '',
    METHOD,
    '',
    NOTES,
    '',
    '## Running it',
    '',
    '```sh',
    'npm run bench                                # every transport and the cost curve, about 15 minutes on two cores',
    'npm run bench -- --quick                     # smaller counts, no cost curve, a few minutes',
    'npm run bench -- --quick --scaling           # the same with a shorter cost curve',
    'npm run bench -- --broker redis,nats --subscribers 3 --runs 5',
    'npm run bench -- --profile                   # CPU profiles behind the targets: docs/benchmarks-profile.md',
    '```',
    '',
    'Flags: `--broker` (redis, amqp, nats, cluster), `--impl` (fanout, fanout-durable, feathers-sync, bare;',
    '`fanout-durable` is feathers-fanout with `durable: true`, on the brokers that keep messages, `fanout-durable-batch`',
    'the same with `batch: true`; `fanout-lean` is',
    'feathers-fanout with `includeResult: false`, measured only when named), `--subscribers`,',
    '`--runs`, `--sizes` (bytes of event data), `--rate` (events/s of the latency runs), `--out` (where',
    '`latest.json` goes, default `bench/results`), `--no-docs` (leave this page alone), `--scaling` /',
    '`--no-scaling` (the cost curve with 1, 2, 4 and 8 subscribers; on by default in the full run), `--profile`',
    '(instead of the comparison, CPU profiles of the publisher and one subscriber of the implementations behind',
    'the targets, or of those `--impl` names, at 200 B unless `--sizes` says otherwise; writes',
    '`profile.json` beside `latest.json` and [benchmarks-profile.md](benchmarks-profile.md)). It needs `redis-server`,',
    '`nats-server` and `rabbitmq-server` installed, like the tests, and starts and stops its own on free',
    'loopback ports. Every measurement is in `bench/results/latest.json`. With `FANOUT_BENCH_CPU_PROF=<dir>`,',
    'every child process writes a V8 CPU profile there when it exits.',
    ''
  ].join('\n')
}

/** Writes both files; returns their paths. */
export function writeDocs(result: BenchResult): string[] {
  const svg = path.join(DOCS, 'benchmarks.svg')
  const md = path.join(DOCS, 'benchmarks.md')
  fs.writeFileSync(svg, chart(result.summary, result.options.sizes[0], result.options.perSecond))
  fs.writeFileSync(md, markdown(result))
  const written = [md, svg]
  if (result.scaling && result.scaling.length > 0) {
    const curve = path.join(DOCS, 'benchmarks-scaling.svg')
    fs.writeFileSync(curve, scalingChart(result.scaling))
    written.push(curve)
  }
  return written.map((file) => path.relative(process.cwd(), file))
}
