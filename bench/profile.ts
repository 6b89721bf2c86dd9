/**
 * `npm run bench -- --profile`: where the CPU of each event goes, per function. For each broker it runs
 * the throughput burst of the implementations behind the targets (feathers-fanout with default options,
 * the bare client, and where a target concerns them batched frames, durable delivery or feathers-sync)
 * with the publisher and the first subscriber under `node --cpu-prof`. Each process's CPU per event
 * (`process.cpuUsage`, as the comparison measures it) is split by the share of its profile's busy
 * samples that fall in each function and group, counting only the samples taken during the bursts.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { startBroker } from './brokers'
import { CODE_GROUPS, profileTimes, readProfile, type CodeGroup, type ProfileTimes } from './cpuprofile'
import { profileFolder, startFleet } from './fleet'
import type { Machine } from './machine'
import { join, measureBurst, warmUp, type BurstFigures } from './measure'
import { sampleFanout } from './members/service'
import { burstCount, implsFor, type BenchOptions } from './options'
import { type ChildConfig, type Impl, type Transport } from './protocol'

/** Sampling interval of the profiles, µs (Node's default is 1,000). */
export const PROFILE_INTERVAL_US = 250
/** Functions kept per process, by self time. */
const KEPT_FUNCTIONS = 12

/** What `--profile` runs per broker unless `--impl` names the implementations. */
export const PROFILED: Readonly<Record<Transport, Impl[]>> = {
  redis: ['fanout', 'fanout-batch', 'bare'],
  amqp: ['fanout', 'feathers-sync', 'bare'],
  nats: ['fanout', 'fanout-batch', 'fanout-durable', 'bare'],
  cluster: ['fanout', 'bare']
}

/** One profiled process: its CPU per event, split by where the code lives. */
export interface ProcessProfile {
  role: ChildConfig['role']
  /** CPU time per event (user + system, every thread of the process), µs. */
  cpuUs: number
  /** The main thread's busy (not idle) samples during the bursts. */
  samples: number
  /** Share of the samples during the bursts that found the main thread idle (waiting for I/O or timers). */
  idleShare: number
  /** `cpuUs` split by the share of busy samples per group, µs per event. */
  groups: Record<CodeGroup, number>
  /** The functions with the most self time, µs per event (same split). */
  top: { name: string; where: string; group: CodeGroup; us: number }[]
  /** The project's functions by time with the function anywhere on the stack, µs per event. */
  inclusive: { name: string; where: string; us: number }[]
}

export interface ProfileCase {
  transport: Transport
  impl: Impl
  size: number
  bursts: number
  eventsPerBurst: number
  /** Median throughput of the profiled bursts (the profiler slows every process a little). */
  eventsPerSecond: number
  /** The broker's CPU per event during the bursts, µs (not profiled; see RunningBroker.cpuSeconds). */
  serverCpuUs: number
  processes: ProcessProfile[]
  /** The bursts, [first send, last delivery] in µs of the monotonic clock the profiles use. */
  windows: [number, number][]
}

/** What `--profile` writes to `<out>/profile.json`. */
export interface ProfileResult {
  command: string
  minutes: number
  machine: Machine
  intervalUs: number
  subscribers: number
  cases: ProfileCase[]
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** Splits `cpuUs` per event by the shares of the profile's busy time. */
export function splitCpu(role: ChildConfig['role'], cpuUs: number, times: ProfileTimes): ProcessProfile {
  const share = (samples: number) => (times.busy > 0 ? (samples / times.busy) * cpuUs : 0)
  const groups = Object.fromEntries(CODE_GROUPS.map((group) => [group, share(times.groups[group])]))
  return {
    role,
    cpuUs,
    samples: times.busy,
    idleShare: times.idle + times.busy > 0 ? times.idle / (times.idle + times.busy) : 0,
    groups: groups as Record<CodeGroup, number>,
    top: times.functions
      .slice(0, KEPT_FUNCTIONS)
      .map(({ name, where, group, samples }) => ({ name, where, group, us: share(samples) })),
    inclusive: times.inclusive
      .slice(0, KEPT_FUNCTIONS)
      .map(({ name, where, samples }) => ({ name, where, us: share(samples) }))
  }
}

/** The main thread's profile (thread 0) among those a process wrote to `folder`. */
function mainThreadProfile(folder: string, who: string): string {
  const files = fs.existsSync(folder) ? fs.readdirSync(folder) : []
  const main = files.filter((file) => /\.\d+\.0\.\d+\.cpuprofile$/.test(file))
  if (main.length !== 1) {
    throw new Error(
      `${who} wrote ${main.length} main-thread CPU profiles (files: ${files.join(', ') || 'none'})`
    )
  }
  return path.join(folder, main[0])
}

async function profileCase(
  transport: Transport,
  impl: Impl,
  url: string,
  size: number,
  options: BenchOptions,
  cpuSeconds: () => number
): Promise<ProfileCase> {
  // FANOUT_BENCH_CPU_PROF=<dir> keeps the profiles there (to open in a profiler); a temp dir otherwise.
  const keep = process.env.FANOUT_BENCH_CPU_PROF
  if (keep) fs.mkdirSync(keep, { recursive: true })
  const dir = fs.mkdtempSync(path.join(keep ?? os.tmpdir(), `fanout-profile-${transport}-${impl}-`))
  try {
    const key = `bench-profile-${impl}`
    const { context } = await sampleFanout(key, 0)
    const profile = { dir, intervalUs: PROFILE_INTERVAL_US }
    const fleet = await startFleet({ impl, transport, url, key, context }, options.subscribers, profile)
    const events = burstCount(options, transport, impl, size)
    const bursts: BurstFigures[] = []
    try {
      await join(fleet, size)
      await warmUp(fleet, Math.min(options.warmUp, events), size, cpuSeconds)
      for (let round = 0; round < options.runs; round++) {
        const burst = await measureBurst(fleet, events, size, cpuSeconds)
        bursts.push(burst)
      }
    } finally {
      // The profiles are written as the processes exit.
      await fleet.stop()
    }
    const cpu = {
      publisher: median(bursts.map((burst) => burst.publisherCpuUs)),
      subscriber: median(bursts.map((burst) => burst.subscribersCpuUs[0]))
    }
    const windows = bursts.map((burst) => burst.window)
    const processes = (['publisher', 'subscriber'] as const).map((role) => {
      const file = mainThreadProfile(profileFolder(dir, role), `${impl} ${role} on ${transport}`)
      return splitCpu(role, cpu[role], profileTimes(readProfile(file), windows))
    })
    return {
      transport,
      impl,
      size,
      bursts: bursts.length,
      eventsPerBurst: events,
      eventsPerSecond: median(bursts.map((burst) => burst.eventsPerSecond)),
      serverCpuUs: median(bursts.map((burst) => burst.serverCpuUs)),
      processes,
      windows
    }
  } finally {
    if (!keep) fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** One console line per process of a case: CPU per event and its largest groups. */
function caseLines(profiled: ProfileCase): string[] {
  return profiled.processes.map((process) => {
    const groups = CODE_GROUPS.filter((group) => process.groups[group] >= 0.05)
      .sort((a, b) => process.groups[b] - process.groups[a])
      .map((group) => `${group} ${process.groups[group].toFixed(1)}`)
    return (
      `  ${profiled.transport} ${profiled.impl.padEnd(14)} ${process.role.padEnd(10)} ` +
      `${process.cpuUs.toFixed(1).padStart(6)} µs/event: ${groups.join(', ')}`
    )
  })
}

/** Profiles every case of the run's brokers; `print` gets progress and a summary per case. */
export async function benchProfile(
  options: BenchOptions,
  print: (line: string) => void,
  brokers: Record<string, string>
): Promise<ProfileCase[]> {
  const cases: ProfileCase[] = []
  for (const transport of options.transports) {
    const impls = implsFor(transport, options.implsNamed ? options.impls : PROFILED[transport])
    if (impls.length === 0) continue
    print(`\n${transport}: profiling ${impls.join(', ')} …`)
    const broker = await startBroker(transport)
    brokers[transport] = broker.version
    try {
      for (const size of options.sizes) {
        for (const impl of impls) {
          const profiled = await profileCase(transport, impl, broker.url, size, options, broker.cpuSeconds)
          cases.push(profiled)
          for (const line of caseLines(profiled)) print(line)
        }
      }
    } finally {
      await broker.stop()
    }
  }
  return cases
}
