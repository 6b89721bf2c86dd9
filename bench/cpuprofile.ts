/**
 * Reads a V8 CPU profile (`node --cpu-prof`, a `.cpuprofile` JSON file) and sums its samples inside
 * given time windows: self time per function, and per group of where the code lives (this project, the
 * broker client, Feathers, the serializer, Node core, GC). The profile's timestamps are microseconds of
 * the monotonic clock that `process.hrtime` reads too, so the windows come straight from the benchmark.
 */
import fs from 'node:fs'
import path from 'node:path'

/** The part of the `.cpuprofile` format read here (Chrome DevTools protocol `Profiler.Profile`). */
export interface CpuProfile {
  nodes: {
    id: number
    callFrame: { functionName: string; url: string; lineNumber: number }
    children?: number[]
  }[]
  /** Microseconds, monotonic clock. */
  startTime: number
  endTime: number
  /** Node id of each sample, and the microseconds since the previous sample. */
  samples?: number[]
  timeDeltas?: number[]
}

/** Where a function's code lives. */
export type CodeGroup =
  'library' | 'feathers' | 'client' | 'serializer' | 'node' | 'harness' | 'gc' | 'program' | 'other'

export const GROUP_LABELS: Readonly<Record<CodeGroup, string>> = {
  library: 'sync library: feathers-fanout (src/, adapters/) or feathers-sync',
  feathers: 'Feathers (@feathersjs/*)',
  client: 'broker client (ioredis, amqplib, nats and their dependencies)',
  serializer: 'serializer (JSON, bson), with the bare clients’ envelope',
  node: 'Node core (node: modules, native bindings: sockets, streams, Buffer)',
  harness: 'benchmark harness (bench/: sending loop, receiver, IPC)',
  gc: 'garbage collector',
  program: 'V8 and native code not attributed to a function (program)',
  other: 'other: tsx (its `__name` helper, see below), other packages'
}

/** Short names of the groups, for sentences. */
export const GROUP_NAMES: Readonly<Record<CodeGroup, string>> = {
  library: 'sync library',
  feathers: 'Feathers',
  client: 'broker client',
  serializer: 'serializer',
  node: 'Node core',
  harness: 'harness',
  gc: 'GC',
  program: 'program',
  other: 'other'
}

export const CODE_GROUPS = Object.keys(GROUP_LABELS) as CodeGroup[]

/** Self samples of one function inside the windows. */
export interface FunctionTime {
  name: string
  /** File relative to the project or package, with the line (none for TypeScript files, see below). */
  where: string
  group: CodeGroup
  samples: number
}

/**
 * A profile's samples inside its windows, counted: busy ones per group and function, idle ones apart.
 * Counted rather than weighted by their time deltas: on a busy machine a process waits for a core, and
 * a delta then holds that wait too, charged to whatever function ran before it.
 */
export interface ProfileTimes {
  busy: number
  idle: number
  groups: Record<CodeGroup, number>
  /** By self samples. */
  functions: FunctionTime[]
  /** The project's functions (group `library`) by samples with the function anywhere on the stack. */
  inclusive: FunctionTime[]
}

const ROOT = path.resolve(__dirname, '..')
const CLIENT_PACKAGES = new Set([
  'ioredis',
  '@ioredis/commands',
  'redis-parser',
  'redis-errors',
  'denque',
  'standard-as-callback',
  'cluster-key-slot',
  'amqplib',
  'buffer-more-ints',
  'url-parse',
  'querystringify',
  'requires-port',
  'nats',
  'nkeys.js',
  'tweetnacl'
])
// Files of bench/ that do the bare clients' envelope work: JSON.stringify and JSON.parse run inside V8
// and count as the self time of the function that calls them.
const BARE_CODEC = 'bench/members/bare.ts'
const SERIALIZERS = new Set(['src/protocol/serializers.ts', 'src/protocol/bson.ts', BARE_CODEC])

/** The package a `node_modules` path belongs to, scoped names included. */
function packageOf(file: string): { name: string; rest: string } {
  const tail = file.slice(file.lastIndexOf('node_modules/') + 'node_modules/'.length).split('/')
  const size = tail[0].startsWith('@') ? 2 : 1
  return { name: tail.slice(0, size).join('/'), rest: tail.join('/') }
}

/** The group and a short location of a call frame. */
export function classify(functionName: string, url: string): { group: CodeGroup; where: string } {
  if (functionName === '(garbage collector)') return { group: 'gc', where: '' }
  if (url === '') {
    if (functionName === '(program)' || functionName === '(root)') return { group: 'program', where: '' }
    return { group: 'node', where: '(native)' }
  }
  if (url.startsWith('node:')) return { group: 'node', where: url }
  const file = url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : url
  if (file.includes('/node_modules/')) {
    const { name, rest } = packageOf(file)
    const group: CodeGroup = CLIENT_PACKAGES.has(name)
      ? 'client'
      : name.startsWith('@feathersjs/')
        ? 'feathers'
        : name === 'feathers-sync'
          ? 'library'
          : name === 'bson'
            ? 'serializer'
            : 'other'
    return { group, where: rest }
  }
  const local = path.relative(ROOT, file).split(path.sep).join('/')
  // The helper tsx's transform adds to TypeScript files to name functions made at run time.
  if (functionName === '__name' && local.endsWith('.ts')) return { group: 'other', where: local }
  if (SERIALIZERS.has(local)) return { group: 'serializer', where: local }
  if (local.startsWith('src/') || local.startsWith('adapters/')) return { group: 'library', where: local }
  if (local.startsWith('bench/')) return { group: 'harness', where: local }
  return { group: 'other', where: local }
}

export const readProfile = (file: string): CpuProfile =>
  JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile

type Frame = CpuProfile['nodes'][number]['callFrame']

/** A frame's function: its name, where it lives, and the key that joins its call paths. */
function functionOf(frame: Frame): FunctionTime & { key: string } {
  const { group, where } = classify(frame.functionName, frame.url)
  const name = frame.functionName || '(anonymous)'
  // tsx's transform puts a TypeScript module's code on a few long lines: its line numbers say nothing.
  const line = where === '' || where === '(native)' || where.endsWith('.ts') ? '' : `:${frame.lineNumber + 1}`
  return { key: `${name} ${where}${line}`, name, where: `${where}${line}`, group, samples: 0 }
}

/** Adds `count` samples to the entry of `fn` in `table`. */
function count(table: Map<string, FunctionTime>, fn: FunctionTime & { key: string }, samples: number): void {
  const { key, ...entry } = fn
  const found = table.get(key) ?? entry
  found.samples += samples
  table.set(key, found)
}

const bySamples = (table: Map<string, FunctionTime>): FunctionTime[] =>
  [...table.values()].sort((a, b) => b.samples - a.samples)

/** Counts the samples of `profile` taken in one of `windows` ([start, end] µs, monotonic). */
export function profileTimes(profile: CpuProfile, windows: [number, number][]): ProfileTimes {
  const functions = new Map(profile.nodes.map((node) => [node.id, functionOf(node.callFrame)]))
  const parents = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id)
  const self = new Map<number, number>()
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  let at = profile.startTime
  let idle = 0
  for (let i = 0; i < samples.length; i++) {
    at += deltas[i] ?? 0
    if (!windows.some(([start, end]) => at >= start && at <= end)) continue
    if (functions.get(samples[i])?.name === '(idle)') idle++
    else self.set(samples[i], (self.get(samples[i]) ?? 0) + 1)
  }
  const groups = Object.fromEntries(CODE_GROUPS.map((group) => [group, 0])) as Record<CodeGroup, number>
  const selfTable = new Map<string, FunctionTime>()
  const inclusiveTable = new Map<string, FunctionTime>()
  let busy = 0
  for (const [id, samplesOfNode] of self) {
    const fn = functions.get(id)
    if (!fn) continue
    busy += samplesOfNode
    groups[fn.group] += samplesOfNode
    count(selfTable, fn, samplesOfNode)
    // Each project function on the stack once, however often it recurses.
    const seen = new Set<string>()
    for (let node: number | undefined = id; node !== undefined; node = parents.get(node)) {
      const caller = functions.get(node)
      if (!caller || caller.group !== 'library' || seen.has(caller.key)) continue
      seen.add(caller.key)
      count(inclusiveTable, caller, samplesOfNode)
    }
  }
  return { busy, idle, groups, functions: bySamples(selfTable), inclusive: bySamples(inclusiveTable) }
}
