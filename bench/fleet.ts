/**
 * Starts and drives the child processes of one implementation: one publisher and N subscribers, each
 * a `cluster` worker (so that the cluster transport works the same way as the brokers), and stops
 * them. Every wait here is bounded.
 */
import cluster, { type Worker } from 'node:cluster'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { CONFIG_ENV, isBench, type ChildConfig, type ChildMessage, type Command } from './protocol'

const READY_TIMEOUT_MS = 60_000
const REPLY_TIMEOUT_MS = 120_000
const EXIT_TIMEOUT_MS = 5_000

// Children run the TypeScript sources through tsx, like `npm run bench` itself.
const TSX_LOADER = pathToFileURL(
  path.join(path.dirname(require.resolve('tsx/package.json')), 'dist/loader.mjs')
)

/** One child process. */
export class Child {
  private nextId = 0
  private readonly pending = new Map<number, (message: ChildMessage & { bench: 'reply' }) => void>()
  private readonly doneWaiters = new Map<number, () => void>()
  private readonly donePhases = new Set<number>()
  readonly output: string[] = []
  readonly exited: Promise<void>

  constructor(
    readonly worker: Worker,
    readonly role: ChildConfig['role']
  ) {
    worker.process.stdout?.on('data', (chunk: Buffer) => this.output.push(chunk.toString()))
    worker.process.stderr?.on('data', (chunk: Buffer) => this.output.push(chunk.toString()))
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()))
    worker.on('message', (message: unknown) => {
      if (!isBench(message)) return
      const typed = message as ChildMessage
      if (typed.bench === 'reply') this.pending.get(typed.id)?.(typed)
      else if (typed.bench === 'done') {
        this.donePhases.add(typed.phase)
        this.doneWaiters.get(typed.phase)?.()
      }
    })
  }

  /** Sends a command and resolves with the child's answer. */
  run<T>(command: Command, timeoutMs = REPLY_TIMEOUT_MS): Promise<T> {
    const id = ++this.nextId
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.role} did not answer "${command.cmd}" within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, (reply) => {
        clearTimeout(timer)
        this.pending.delete(id)
        if (reply.error !== undefined) reject(new Error(`${this.role}: ${reply.error}`))
        else resolve(reply.value as T)
      })
      this.worker.send({ bench: 'cmd', id, ...command })
    })
  }

  /** Resolves true once the child said `done` for `phase`, false after `timeoutMs`. */
  done(phase: number, timeoutMs: number): Promise<boolean> {
    if (this.donePhases.has(phase)) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.doneWaiters.delete(phase)
        resolve(false)
      }, timeoutMs)
      this.doneWaiters.set(phase, () => {
        clearTimeout(timer)
        this.doneWaiters.delete(phase)
        resolve(true)
      })
    })
  }

  /** Asks the child to exit, then kills it if it has not within a bound. */
  async stop(): Promise<void> {
    if (this.worker.process.exitCode !== null || this.worker.process.signalCode !== null) return
    await this.run({ cmd: 'exit' }, EXIT_TIMEOUT_MS).catch(() => undefined)
    const timer = setTimeout(() => this.worker.process.kill('SIGKILL'), EXIT_TIMEOUT_MS)
    await this.exited
    clearTimeout(timer)
  }
}

/**
 * Where the publisher and the first subscriber write a V8 CPU profile when they exit (`--profile`),
 * sampled every `intervalUs` microseconds.
 */
export interface FleetProfile {
  dir: string
  intervalUs: number
}

/**
 * The folder of `FleetProfile.dir` where a profiled child writes its profiles: one per thread (tsx's
 * module hooks run on a thread of their own), named `CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile`.
 */
export const profileFolder = (dir: string, role: ChildConfig['role']): string => path.join(dir, role)

// FANOUT_BENCH_CPU_PROF=<dir>: every child writes a V8 CPU profile there when it exits.
// `null`: not profiled, whatever FANOUT_BENCH_CPU_PROF says (a `--profile` fleet's other subscribers).
const profiling = (profile: FleetProfile | null | undefined, role: ChildConfig['role']): string[] => {
  if (profile) {
    return [
      '--cpu-prof',
      `--cpu-prof-dir=${profileFolder(profile.dir, role)}`,
      `--cpu-prof-interval=${profile.intervalUs}`
    ]
  }
  const dir = process.env.FANOUT_BENCH_CPU_PROF
  return dir && profile === undefined ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : []
}

function fork(config: ChildConfig, profile?: FleetProfile | null): Promise<Child> {
  const flags = profiling(profile, config.role)
  cluster.setupPrimary({
    exec: path.join(__dirname, 'child.ts'),
    execArgv: ['--import', TSX_LOADER.href, ...flags],
    args: [],
    silent: true
  })
  const child = new Child(cluster.fork({ [CONFIG_ENV]: JSON.stringify(config) }), config.role)
  if (flags.length > 0 && !profile)
    console.log(`  profiling ${config.impl} ${config.role}: pid ${child.worker.process.pid}`)
  return new Promise((resolve, reject) => {
    let settled = false
    const fail = (why: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      child.worker.process.kill('SIGKILL')
      reject(
        new Error(`${config.impl} ${config.role} on ${config.transport}: ${why}\n${child.output.join('')}`)
      )
    }
    const timer = setTimeout(() => fail(`not ready within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS)
    child.worker.on('message', (message: unknown) => {
      if (!isBench(message)) return
      const typed = message as ChildMessage
      if (typed.bench === 'ready' && !settled) {
        settled = true
        clearTimeout(timer)
        resolve(child)
      } else if (typed.bench === 'failed') fail(typed.message)
    })
    child.worker.once('exit', (code, signal) => fail(`exited (${code ?? signal}) before it was ready`))
  })
}

/** The processes of one implementation on one transport. */
export interface Fleet {
  publisher: Child
  subscribers: Child[]
  stop(): Promise<void>
}

/**
 * Starts the publisher and `subscribers` subscribers, all ready to publish and receive. With `profile`,
 * the publisher and the first subscriber write CPU profiles when they exit.
 */
export async function startFleet(
  config: Omit<ChildConfig, 'role'>,
  subscribers: number,
  profile?: FleetProfile
): Promise<Fleet> {
  const starting = [
    fork({ ...config, role: 'publisher' }, profile),
    ...Array.from({ length: subscribers }, (_, i) =>
      fork({ ...config, role: 'subscriber' }, i === 0 || !profile ? profile : null)
    )
  ]
  const results = await Promise.allSettled(starting)
  const children = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
  const stop = async () => {
    await Promise.all(children.map((child) => child.stop()))
  }
  const failed = results.find((result) => result.status === 'rejected')
  if (failed) {
    await stop()
    throw (failed as PromiseRejectedResult).reason
  }
  const [publisher, ...rest] = children
  return { publisher, subscribers: rest, stop }
}
