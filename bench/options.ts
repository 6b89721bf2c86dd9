/**
 * Command-line flags of `npm run bench`. Defaults give the full run (about 10 minutes on two cores);
 * `--quick` gives a short one with smaller counts.
 */
import { DEFAULT_IMPLS, DURABLE_TRANSPORTS, IMPLS, TRANSPORTS, type Impl, type Transport } from './protocol'

export interface BenchOptions {
  transports: Transport[]
  impls: Impl[]
  subscribers: number
  runs: number
  /** Event data sizes in bytes. */
  sizes: number[]
  /** Events per burst, per size. */
  burst: Record<number, number>
  /** feathers-sync on NATS opens a connection per event: its bursts are capped to this. */
  feathersSyncNatsBurst: number
  /** Fixed rate of the latency runs, events per second, and their length in seconds. */
  perSecond: number
  rateSeconds: number
  warmUp: number
  /** Events of the consumer group run (3 members in one group). */
  groupEvents: number
  /** The cost curve (scaling.ts): run by default in the full run, with `--scaling` otherwise. */
  scaling: ScalingOptions | undefined
  /** Where results/latest.json goes; docs/benchmarks.md and its chart are written unless `docs` is false. */
  outDir: string
  docs: boolean
  quick: boolean
  /**
   * `--profile`: instead of the comparison, CPU profiles of the publisher and one subscriber per
   * implementation (bench/profile.ts), written to docs/benchmarks-profile.md.
   */
  profile: boolean
  /** Whether `--impl` named the implementations (otherwise `--profile` picks its own per broker). */
  implsNamed: boolean
  /** The command line, for the report. */
  command: string
}

/** Subscriber counts, event sizes (bytes) and burst lengths per size of the cost curve. */
export interface ScalingOptions {
  subscribers: number[]
  sizes: number[]
  burst: Record<number, number>
}

const SCALING: ScalingOptions = {
  subscribers: [1, 2, 4, 8],
  sizes: [200, 10_240, 102_400],
  burst: { 200: 8_000, 10_240: 2_000, 102_400: 400 }
}
const QUICK_SCALING: ScalingOptions = { ...SCALING, burst: { 200: 2_000, 10_240: 400, 102_400: 60 } }
const SMOKE_SCALING: ScalingOptions = { subscribers: [1, 2], sizes: [200], burst: { 200: 200 } }

const USAGE = `usage: npm run bench -- [--quick | --smoke] [--broker redis,amqp,nats,cluster] [--impl fanout,fanout-lean,fanout-batch,feathers-sync,bare]
       [--subscribers 2] [--runs 3] [--sizes 200,10240] [--rate 1000] [--out bench/results] [--no-docs]
       [--scaling | --no-scaling] [--profile]`

// Tiny counts that only prove the script works end to end (test/bench-smoke.test.ts).
const SMOKE: Partial<BenchOptions> = {
  subscribers: 1,
  runs: 1,
  sizes: [200],
  burst: { 200: 200 },
  feathersSyncNatsBurst: 100,
  perSecond: 200,
  rateSeconds: 0.5,
  warmUp: 100,
  groupEvents: 300,
  scaling: undefined
}

function list<T extends string>(flag: string, value: string, known: readonly T[]): T[] {
  const names = value.split(',').map((name) => name.trim()) as T[]
  const unknown = names.filter((name) => !known.includes(name))
  if (unknown.length > 0)
    throw new Error(`${flag}: unknown ${unknown.join(', ')}; known: ${known.join(', ')}\n${USAGE}`)
  return known.filter((name) => names.includes(name))
}

function count(flag: string, value: string): number {
  const number = Number(value)
  if (!Number.isInteger(number) || number < 1) throw new Error(`${flag} must be a positive integer\n${USAGE}`)
  return number
}

/** Parses `argv` (without node and the script). Throws with the usage on a bad flag. */
export function parseArgs(argv: string[]): BenchOptions {
  const quick = argv.includes('--quick')
  const options: BenchOptions = {
    transports: [...TRANSPORTS],
    impls: [...DEFAULT_IMPLS],
    subscribers: 2,
    runs: quick ? 3 : 5,
    sizes: [200, 10_240],
    burst: quick ? { 200: 5_000, 10_240: 1_000 } : { 200: 40_000, 10_240: 8_000 },
    feathersSyncNatsBurst: quick ? 500 : 2_000,
    perSecond: 1_000,
    rateSeconds: quick ? 1 : 3,
    warmUp: quick ? 2_000 : 5_000,
    groupEvents: quick ? 3_000 : 10_000,
    scaling: quick ? undefined : SCALING,
    outDir: 'bench/results',
    docs: true,
    quick,
    profile: argv.includes('--profile'),
    implsNamed: argv.includes('--impl'),
    command: ['npm run bench', ...(argv.length > 0 ? ['--', ...argv] : [])].join(' ')
  }
  if (argv.includes('--smoke')) Object.assign(options, SMOKE)
  // The profile explains the targets, which are set for 200-byte events; it has no cost curve. A smoke
  // profile still needs bursts long enough to be sampled.
  if (options.profile) Object.assign(options, { sizes: [200], scaling: undefined })
  if (options.profile && argv.includes('--smoke')) options.burst = { 200: 2_000 }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    const value = (): string => {
      const next = argv[++i]
      if (next === undefined) throw new Error(`${flag} needs a value\n${USAGE}`)
      return next
    }
    if (flag === '--quick' || flag === '--smoke' || flag === '--profile') continue
    else if (flag === '--scaling')
      options.scaling = argv.includes('--smoke') ? SMOKE_SCALING : quick ? QUICK_SCALING : SCALING
    else if (flag === '--no-scaling') options.scaling = undefined
    else if (flag === '--broker' || flag === '--brokers') options.transports = list(flag, value(), TRANSPORTS)
    else if (flag === '--impl') options.impls = list(flag, value(), IMPLS)
    else if (flag === '--subscribers') options.subscribers = count(flag, value())
    else if (flag === '--runs') options.runs = count(flag, value())
    else if (flag === '--rate') options.perSecond = count(flag, value())
    else if (flag === '--out') options.outDir = value()
    else if (flag === '--no-docs') options.docs = false
    else if (flag === '--sizes') {
      options.sizes = value()
        .split(',')
        .map((size) => count('--sizes', size))
      for (const size of options.sizes) options.burst[size] ??= Math.max(500, Math.round(4_000_000 / size))
    } else if (flag === '--help' || flag === '-h') throw new Error(USAGE)
    else throw new Error(`unknown flag ${flag}\n${USAGE}`)
  }
  return options
}

/** The implementations of `impls` that can run on `transport`. */
export const implsFor = (transport: Transport, impls: readonly Impl[]): Impl[] =>
  // feathers-sync has no cluster adapter; durable delivery needs an adapter that keeps messages.
  impls.filter(
    (impl) =>
      !(transport === 'cluster' && impl === 'feathers-sync') &&
      !(impl.startsWith('fanout-durable') && !DURABLE_TRANSPORTS.includes(transport))
  )

/** Events per burst of `impl` at `size`. */
export const burstCount = (options: BenchOptions, transport: Transport, impl: Impl, size: number): number =>
  transport === 'nats' && impl === 'feathers-sync'
    ? Math.min(options.burst[size], options.feathersSyncNatsBurst)
    : options.burst[size]
