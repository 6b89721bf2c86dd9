/**
 * `npm run bench`: feathers-fanout, feathers-sync 3.1.1 and the bare broker clients side by side, in
 * one run, on Redis, RabbitMQ, NATS and Node cluster IPC. Starts its own brokers, one publishing and N
 * subscribing processes per implementation, and writes bench/results/latest.json and
 * docs/benchmarks.md (with its chart). docs/benchmarks.md says what is measured and how.
 */
import fs from 'node:fs'
import path from 'node:path'
import { setupPrimary } from '../src/index'
import { startBroker, type RunningBroker } from './brokers'
import { writeDocs, type BenchResult, type WireSize } from './docs'
import { startFleet, type Fleet } from './fleet'
import { benchGroup, supportsGroups, type GroupBench } from './groups'
import { consoleTable, sizeLabel, targetLines } from './format'
import { describeMachine, finish, machineLine, type Machine } from './machine'
import { join, measureBurst, measureRate, warmUp } from './measure'
import { sampleFeathersSync } from './members/feathers'
import { sampleFanout } from './members/service'
import { benchProfile, PROFILE_INTERVAL_US, type ProfileResult } from './profile'
import { writeProfileDocs } from './profile-docs'
import { burstCount, implsFor, parseArgs, type BenchOptions } from './options'
import type { Impl, Transport } from './protocol'
import { startBareRelay } from './relay'
import { benchScaling, type ScalingPoint } from './scaling'
import { ratios, summarize, type Measurement } from './summary'
import { checkTargets } from './targets'

const print = (text: string): void => {
  process.stdout.write(`${text}\n`)
}

/** Every round runs the implementations back to back, starting with a different one each time. */
const rotate = <T>(items: T[], by: number): T[] => items.map((_, i) => items[(i + by) % items.length])

/** Starts one fleet per implementation, each subscribed, joined and warmed up at every size. */
async function startFleets(
  transport: Transport,
  broker: RunningBroker,
  options: BenchOptions
): Promise<Map<Impl, Fleet>> {
  const fleets = new Map<Impl, Fleet>()
  try {
    for (const impl of implsFor(transport, options.impls)) {
      const key = `bench-${impl}`
      const { context } = await sampleFanout(key, 0)
      const fleet = await startFleet({ impl, transport, url: broker.url, key, context }, options.subscribers)
      fleets.set(impl, fleet)
      await join(fleet, options.sizes[0])
      for (const size of options.sizes) {
        await warmUp(
          fleet,
          Math.min(options.warmUp, burstCount(options, transport, impl, size)),
          size,
          broker.cpuSeconds
        )
      }
    }
    return fleets
  } catch (error) {
    await Promise.all([...fleets.values()].map((fleet) => fleet.stop()))
    throw error
  }
}

async function benchTransport(transport: Transport, options: BenchOptions, versions: Record<string, string>) {
  const measurements: Measurement[] = []
  print(`\n${transport}: starting ${transport === 'cluster' ? 'the relays' : 'the broker'} …`)
  const broker = await startBroker(transport)
  versions[transport] = broker.version
  const relays = transport === 'cluster' ? [setupPrimary(), { close: startBareRelay() }] : []
  let fleets = new Map<Impl, Fleet>()
  try {
    fleets = await startFleets(transport, broker, options)
    print(
      `${transport}: ${broker.version}; ${[...fleets.keys()].join(', ')} ready, ${options.subscribers} subscribers each`
    )
    for (let round = 0; round < options.runs; round++) {
      for (const size of options.sizes) {
        for (const impl of rotate([...fleets.keys()], round)) {
          const fleet = fleets.get(impl) as Fleet
          const burstEvents = burstCount(options, transport, impl, size)
          const burst = await measureBurst(fleet, burstEvents, size, broker.cpuSeconds)
          const count = Math.round(options.perSecond * options.rateSeconds)
          const rate = await measureRate(fleet, count, options.perSecond, size, impl !== 'bare')
          measurements.push({ transport, impl, size, round, burstEvents, burst, rate })
          print(
            `  run ${round + 1}/${options.runs} ${impl.padEnd(13)} ${sizeLabel(size).padEnd(5)} ` +
              `${Math.round(burst.eventsPerSecond).toLocaleString('en-US').padStart(8)} events/s, ` +
              `p99 ${rate.p99.toFixed(2)} ms, CPU µs/event pub ${burst.publisherCpuUs.toFixed(1)} ` +
              `sub ${burst.subscriberCpuUs.toFixed(1)} server ${burst.serverCpuUs.toFixed(1)}, delivered ${Math.min(burst.delivered, rate.delivered).toFixed(4)}`
          )
        }
      }
    }
  } finally {
    await Promise.all([...fleets.values()].map((fleet) => fleet.stop()))
    for (const relay of relays) relay.close()
    await broker.stop()
  }
  return measurements
}

/** Handled events/s of a consumer group of 3, on each transport whose adapter has groups. */
async function benchGroups(options: BenchOptions): Promise<GroupBench[]> {
  const results: GroupBench[] = []
  for (const transport of options.transports) {
    if (transport === 'cluster') continue
    const broker = await startBroker(transport)
    try {
      if (!supportsGroups(broker.url)) {
        print(`\n${transport}: no consumer groups in this adapter yet; skipped`)
        continue
      }
      const result = await benchGroup(transport, broker.url, options.groupEvents)
      results.push(result)
      print(
        `\n${transport}: consumer group of ${result.members}: ${result.events} events handled in ` +
          `${result.seconds.toFixed(2)} s, ${Math.round(result.eventsPerSecond).toLocaleString('en-US')} handled events/s` +
          `, handled twice ${result.repeats}`
      )
    } finally {
      await broker.stop()
    }
  }
  return results
}

async function wireSizes(sizes: number[]): Promise<WireSize[]> {
  const rows: WireSize[] = []
  for (const size of sizes) {
    const { bytes } = await sampleFanout('bench-fanout', size)
    const lean = await sampleFanout('bench-fanout', size, { includeResult: false })
    rows.push({ size, fanout: bytes, fanoutLean: lean.bytes, feathersSync: await sampleFeathersSync(size) })
  }
  return rows
}

/** `--profile`: CPU profiles instead of the comparison; writes profile.json and benchmarks-profile.md. */
async function profileRun(options: BenchOptions, machine: Machine, started: number): Promise<void> {
  const cases = await benchProfile(options, print, machine.brokers)
  finish(machine)
  const minutes = Math.round((Date.now() - started) / 6_000) / 10
  const result: ProfileResult = {
    command: options.command,
    minutes,
    machine,
    intervalUs: PROFILE_INTERVAL_US,
    subscribers: options.subscribers,
    cases
  }
  fs.mkdirSync(options.outDir, { recursive: true })
  const file = path.join(options.outDir, 'profile.json')
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`)
  print(`\nWrote ${file} (${minutes} min, load at the end ${machine.loadEnd.join(' ')})`)
  if (!options.docs) return
  // The missed targets of the last full run, when there is one, get their reasons.
  const latest = path.join(options.outDir, 'latest.json')
  const full = fs.existsSync(latest)
    ? (JSON.parse(fs.readFileSync(latest, 'utf8')) as BenchResult)
    : undefined
  print(`Wrote ${writeProfileDocs(result, full)}`)
}

async function main(): Promise<void> {
  const started = Date.now()
  const options = parseArgs(process.argv.slice(2))
  const machine = describeMachine()
  print(`feathers-fanout benchmark: ${machineLine(machine)}, load ${machine.loadStart.join(' ')}`)
  if (options.profile) return profileRun(options, machine, started)
  const wire = await wireSizes(options.sizes)
  const measurements: Measurement[] = []
  for (const transport of options.transports) {
    measurements.push(...(await benchTransport(transport, options, machine.brokers)))
  }
  const groups = await benchGroups(options)
  const summary = summarize(measurements)
  const ratioRows = ratios(measurements)
  const targets = checkTargets(summary, ratioRows, options.subscribers, measurements)
  print(
    `\n${consoleTable(summary, ratioRows)}\n\nTargets (200-byte events):\n${targetLines(targets).join('\n')}`
  )
  const result: BenchResult = {
    command: options.command,
    minutes: 0,
    machine,
    options,
    wire,
    summary,
    ratios: ratioRows,
    targets,
    measurements,
    groups,
    scaling: []
  }
  // Written now and again after each broker of the cost curve: a long run leaves what it measured.
  const save = (scaling: ScalingPoint[]) => {
    finish(machine)
    result.minutes = Math.round((Date.now() - started) / 6_000) / 10
    result.scaling = [...scaling]
    fs.mkdirSync(options.outDir, { recursive: true })
    const file = path.join(options.outDir, 'latest.json')
    fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`)
    print(`\nWrote ${file} (${result.minutes} min, load at the end ${machine.loadEnd.join(' ')})`)
    if (options.docs) print(`Wrote ${writeDocs(result).join(', ')}`)
  }
  save([])
  if (options.scaling) {
    print('\nHow cost grows: 1 publisher, 1 to 8 subscribers, fanout against bare …')
    await benchScaling(options, print, save)
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error)
    process.exit(1)
  }
)
