/**
 * Writes docs/benchmarks-profile.md ("Where the time goes") from a `--profile` run: per broker, the CPU
 * per event of the publisher and a subscriber split by where the code lives, the functions with the most
 * self time, and for each target the last full run missed, the reason the numbers give.
 */
import fs from 'node:fs'
import path from 'node:path'
import { CODE_GROUPS, GROUP_LABELS, GROUP_NAMES, type CodeGroup } from './cpuprofile'
import type { BenchResult } from './docs'
import { sizeLabel } from './format'
import { machineLine } from './machine'
import type { ProcessProfile, ProfileCase, ProfileResult } from './profile'
import type { Impl, Transport } from './protocol'
import { pairedThroughput } from './summary'
import type { TargetCheck } from './targets'

const DOCS = path.join(__dirname, '..', 'docs')
/** Functions listed per process, by self time and (the project's) with the calls they make. */
const TOP = 8
const INCLUSIVE = 6
const us = (value: number): string => value.toFixed(1)

/** The comparison behind each kind of target: our implementation and the one it is measured against. */
const PAIRS: { what: string; ours: Impl; theirs: Impl; latency?: boolean }[] = [
  { what: 'throughput vs bare client', ours: 'fanout', theirs: 'bare' },
  { what: 'p99 latency vs bare client', ours: 'fanout', theirs: 'bare', latency: true },
  { what: 'throughput vs feathers-sync', ours: 'fanout', theirs: 'feathers-sync' },
  { what: 'durable throughput vs pub/sub', ours: 'fanout-durable', theirs: 'fanout' },
  { what: 'recommended options (`batch: true`) vs bare client', ours: 'fanout-batch', theirs: 'bare' }
]

const find = (result: ProfileResult, transport: Transport, impl: Impl): ProfileCase | undefined =>
  result.cases.find((c) => c.transport === transport && c.impl === impl && c.size === 200)

const role = (profiled: ProfileCase, name: ProcessProfile['role']): ProcessProfile =>
  profiled.processes.find((process) => process.role === name) as ProcessProfile

/** CPU per event summed over every process of a fleet: publisher, each subscriber, broker. */
const fleetCpu = (profiled: ProfileCase, subscribers: number): number =>
  role(profiled, 'publisher').cpuUs + subscribers * role(profiled, 'subscriber').cpuUs + profiled.serverCpuUs

/** "+8.7: Feathers +3.1, sync library +4.0": the difference of one process and its two largest groups. */
function difference(ours: ProcessProfile, theirs: ProcessProfile): string {
  const delta = (group: CodeGroup) => ours.groups[group] - theirs.groups[group]
  const largest = CODE_GROUPS.filter((group) => Math.abs(delta(group)) >= 0.5)
    .sort((a, b) => Math.abs(delta(b)) - Math.abs(delta(a)))
    .slice(0, 2)
    .map((group) => `${GROUP_NAMES[group]} ${signed(delta(group))}`)
  return `${signed(ours.cpuUs - theirs.cpuUs)}${largest.length > 0 ? `: ${largest.join(', ')}` : ''}`
}

const signed = (value: number): string => `${value >= 0 ? '+' : '−'}${us(Math.abs(value))}`

/** The reason a missed target has, from the profiled cases of its pair. */
export function reason(result: ProfileResult, check: TargetCheck, measured?: number): string {
  const pair = PAIRS.find((p) => p.what === check.what)
  if (!pair) return 'not a question of CPU per event; not profiled.'
  const [ours, theirs] = [
    find(result, check.transport, pair.ours),
    find(result, check.transport, pair.theirs)
  ]
  if (!ours || !theirs) return `not profiled in this run (needs ${pair.ours} and ${pair.theirs}).`
  const parts = (['publisher', 'subscriber'] as const).map((name) => {
    const [a, b] = [role(ours, name), role(theirs, name)]
    return `the ${name} ${us(a.cpuUs)} µs against ${us(b.cpuUs)} (${difference(a, b)})`
  })
  const sums = [fleetCpu(ours, result.subscribers), fleetCpu(theirs, result.subscribers)]
  const text =
    `per event, ${pair.ours} costs ${parts.join(', ')}; the broker ${us(ours.serverCpuUs)} against ` +
    `${us(theirs.serverCpuUs)}. Summed over the publisher, ${result.subscribers} subscribers and the broker: ` +
    `${us(sums[0])} µs against ${us(sums[1])}`
  if (pair.latency) {
    return `${text}. A CPU profile does not show waiting; it shows only this extra CPU per event.`
  }
  const predicted = sums[1] / sums[0]
  const profiled = ours.eventsPerSecond / theirs.eventsPerSecond
  const idle = (c: ProfileCase) => `${Math.round(role(c, 'publisher').idleShare * 100)} %`
  const full = measured === undefined ? '' : ` (the last full run: ${measured.toFixed(2)})`
  const fit =
    Math.abs(predicted - profiled) > 0.2 * profiled
      ? `; CPU alone does not account for it: ${pair.ours}'s publisher was idle (waiting for I/O or timers) ` +
        `${idle(ours)} of the bursts, ${pair.theirs}'s ${idle(theirs)}`
      : ''
  return (
    `${text}, a throughput ratio of ${predicted.toFixed(2)} if CPU alone set the pace; the profiled bursts ` +
    `measured ${profiled.toFixed(2)}${full}${fit}.`
  )
}

/** The missed targets of the last full run, each with its reason; every pair when there was none. */
function reasons(result: ProfileResult, full: BenchResult | undefined): string[] {
  const lines = ['## Why targets are missed', '']
  if (!full) {
    lines.push(
      'No full run to compare with (`bench/results/latest.json`); each comparison the targets make:',
      ''
    )
  } else {
    lines.push(
      `The targets the last full run (\`${full.command}\`, ${full.machine.date.slice(0, 10)}) missed:`,
      ''
    )
  }
  const checks: TargetCheck[] = full
    ? full.targets.filter((check) => !check.met)
    : [...new Set(result.cases.map((c) => c.transport))].flatMap((transport) =>
        PAIRS.map(({ what }) => ({ transport, what, value: NaN, goal: '', met: false }))
      )
  for (const check of checks) {
    const pair = PAIRS.find((p) => p.what === check.what)
    const measured =
      pair && !pair.latency && full
        ? pairedThroughput(full.measurements, [check.transport, 200], pair.ours, pair.theirs)
        : undefined
    const value = Number.isFinite(check.value) ? `: ${check.value.toFixed(2)} (goal ${check.goal})` : ''
    lines.push(`- **${check.transport}, ${check.what}${value}**: ${reason(result, check, measured)}`)
  }
  if (checks.length === 0) lines.push('- None.')
  return lines
}

/** A case's column head: the implementation, and the event size where a run profiled several. */
const columnHead = (profiled: ProfileCase, _: number, cases: ProfileCase[]): string =>
  cases.some((c) => c.size !== profiled.size)
    ? `${profiled.impl}, ${sizeLabel(profiled.size)}`
    : profiled.impl

/** A table of one role's CPU per event by group, one column per implementation. */
function groupTable(cases: ProfileCase[], name: ProcessProfile['role']): string[] {
  const processes = cases.map((c) => role(c, name))
  const row = (label: string, values: string[]) => `| ${label} | ${values.join(' | ')} |`
  const used = CODE_GROUPS.filter((group) => processes.some((p) => p.groups[group] >= 0.05))
  return [
    row(`${name}, µs per event`, cases.map(columnHead)),
    row(
      '---',
      cases.map(() => '---:')
    ),
    row(
      '**CPU (process.cpuUsage)**',
      processes.map((p) => `**${us(p.cpuUs)}**`)
    ),
    ...used.map((group) =>
      row(
        GROUP_LABELS[group],
        processes.map((p) => us(p.groups[group]))
      )
    ),
    row(
      'main thread idle during the bursts',
      processes.map((p) => `${Math.round(p.idleShare * 100)} %`)
    ),
    row(
      'busy samples',
      processes.map((p) => String(p.samples))
    )
  ]
}

function topFunctions(profiled: ProfileCase): string[] {
  const head = (process: ProcessProfile) => `${profiled.impl}, ${sizeLabel(profiled.size)}, ${process.role}`
  return profiled.processes.flatMap((process) => {
    const self = process.top
      .slice(0, TOP)
      .map((f) => `\`${f.name}\` ${f.where ? `${f.where} ` : ''}(${f.group}) ${us(f.us)}`)
    // Of a chain of calls that cost nearly the same (thin wrappers), only the innermost is named.
    const inside = process.inclusive
      .filter((f, i, all) => !(all[i + 1]?.us >= 0.95 * f.us))
      .slice(0, INCLUSIVE)
      .map((f) => `\`${f.name}\` ${f.where} ${us(f.us)}`)
    return [
      `- ${head(process)} (${us(process.cpuUs)} µs), self: ${self.join('; ')}.`,
      ...(inside.length > 0
        ? [`  With the calls they make, the project's functions: ${inside.join('; ')}.`]
        : [])
    ]
  })
}

function brokerSection(result: ProfileResult, transport: Transport): string[] {
  const cases = result.cases.filter((c) => c.transport === transport)
  const count = (n: number) => Math.round(n).toLocaleString('en-US')
  return [
    `## ${transport}`,
    '',
    ...groupTable(cases, 'publisher'),
    '',
    ...groupTable(cases, 'subscriber'),
    '',
    'Throughput under the profiler and the broker’s CPU (not profiled), per implementation: ' +
      cases
        .map(
          (c) =>
            `${c.impl} ${count(c.eventsPerSecond)} events/s of ${sizeLabel(c.size)}, broker ${us(c.serverCpuUs)} µs/event`
        )
        .join('; ') +
      '.',
    '',
    'Per function, µs per event: self time (name, file and line, group), then the time inside this project’s',
    'functions with everything they call (of a chain of wrappers that cost nearly the same, the innermost).',
    '',
    ...cases.flatMap(topFunctions)
  ]
}

/** The page, from a `--profile` run and the last full run. */
export function profileMarkdown(result: ProfileResult, full: BenchResult | undefined): string {
  const { machine } = result
  const first = result.cases[0]
  return [
    '# Where the time goes',
    '',
    'CPU profiles of the benchmark’s throughput bursts, written by `npm run bench -- --profile` (only that',
    'command writes this page; [benchmarks.md](benchmarks.md) comes from a run without `--profile`).',
    '',
    '## Run',
    '',
    `- Command: \`${result.command}\` (${result.minutes} minutes), ${machine.date.slice(0, 10)}.`,
    `- Machine: ${machineLine(machine)}.`,
    `- Load average (1, 5, 15 min): ${machine.loadStart.join(', ')} before the run, ${machine.loadEnd.join(', ')} at its end.`,
    `- Servers: ${Object.values(machine.brokers).join(', ')}, all on loopback.`,
    first
      ? `- Per implementation: 1 publishing and ${result.subscribers} subscribing processes, ${first.bursts} bursts of ` +
        `${first.eventsPerBurst.toLocaleString('en-US')} events after the warm-up; the publisher and the first ` +
        `subscriber run under \`node --cpu-prof\`, sampled every ${result.intervalUs} µs.`
      : '- Nothing was profiled.',
    '',
    ...reasons(result, full),
    '',
    ...[...new Set(result.cases.map((c) => c.transport))].flatMap((t) => [...brokerSection(result, t), '']),
    '## How it is measured',
    '',
    '- Each process’s CPU per event is `process.cpuUsage()` over the burst (every thread), as in',
    '  benchmarks.md. It is split in the shares of the main thread’s busy samples taken between the first',
    '  send and the slowest subscriber’s last event, per function (self time) and per group of where the',
    '  code lives. Samples are counted, not weighted by the time between them: on a busy machine that time',
    '  also holds waits for a core. Samples that find the process idle (waiting for I/O or timers) are left',
    '  out of the split and shown on their own.',
    '- `JSON.stringify` and `JSON.parse` run inside V8 and count as self time of the function that calls them:',
    '  feathers-fanout’s `serialize`/`deserialize` and the bare clients’ `encode`/`decode`',
    '  (bench/members/bare.ts), hence the serializer group. feathers-sync calls them from its own code, so',
    '  its JSON work is in the sync library group. Garbage collection on V8’s helper threads is in the CPU',
    '  figure but not in the samples.',
    '- The broker’s CPU per event comes from `/proc`, not from a profile.',
    '- The profiler costs every profiled process a little: compare implementations within this page.',
    '- The benchmark runs the TypeScript sources through tsx. TypeScript files are named without a line (tsx',
    '  puts each module on a few long lines), and `__name`, a helper tsx adds to name each function a',
    '  TypeScript file creates at run time, is tsx’s cost, not the compiled package’s (group “other”).',
    ''
  ].join('\n')
}

/** Writes docs/benchmarks-profile.md; `full` is the last full run, whose missed targets get reasons. */
export function writeProfileDocs(result: ProfileResult, full: BenchResult | undefined): string {
  const file = path.join(DOCS, 'benchmarks-profile.md')
  fs.writeFileSync(file, profileMarkdown(result, full))
  return path.relative(process.cwd(), file)
}
