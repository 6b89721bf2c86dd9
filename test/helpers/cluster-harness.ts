/**
 * Makes the Jest process the primary of a real `cluster`: it forks worker processes, talks to them
 * over plain (untagged) IPC messages, which the relay must ignore, and kills them all at the end.
 */
import cluster, { type Worker } from 'node:cluster'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { waitFor } from './apps'

export const ROOT = path.join(__dirname, '..', '..')
/** Lets a forked worker run TypeScript, like `tsx` does for the demo. */
export const TSX_IMPORT = [
  '--import',
  pathToFileURL(path.join(path.dirname(require.resolve('tsx/package.json')), 'dist/loader.mjs')).href
]

/** What a test worker reports for each event its `todos` service emitted. */
export interface SeenEvent {
  event: string
  marker: string | undefined
  remote: boolean
  /** base64 of `data.bytes` when it arrived as a Buffer. */
  bytes?: string
  /** ISO time of `data.at` when it arrived as a Date. */
  at?: string
}

export interface TestWorker {
  readonly worker: Worker
  readonly events: SeenEvent[]
  readonly output: string[]
  /** Resolves with `{ ready: true }`, or with the ready rejection's name and message. */
  readonly started: Promise<{ ready: boolean; name?: string; message?: string }>
  seen(event: string, marker: string): SeenEvent[]
  /** Sends a command to test/helpers/cluster-worker.ts and resolves with its reply. */
  run<T = unknown>(cmd: string, args?: Record<string, unknown>): Promise<T>
  kill(): Promise<void>
}

export interface ForkOptions {
  /** Sync options for the worker's app (JSON-safe). */
  sync?: Record<string, unknown>
  serialization?: 'json' | 'advanced'
  script?: string
}

interface Reply {
  test: 'reply'
  id: number
  value?: unknown
  error?: string
}

const forked = new Set<TestWorker>()
let nextId = 0

/** Forks a worker running test/helpers/cluster-worker.ts with an app configured from `options.sync`. */
export function forkWorker(options: ForkOptions = {}): TestWorker {
  cluster.setupPrimary({
    exec: options.script ?? path.join(__dirname, 'cluster-worker.ts'),
    execArgv: TSX_IMPORT,
    args: [],
    silent: true,
    serialization: options.serialization ?? 'json'
  })
  const worker = cluster.fork({ FANOUT_TEST_SYNC: JSON.stringify(options.sync ?? {}) })
  const events: SeenEvent[] = []
  const output: string[] = []
  const pending = new Map<number, (reply: Reply) => void>()
  let onStart: (value: { ready: boolean; name?: string; message?: string }) => void = () => undefined
  const started = new Promise<{ ready: boolean; name?: string; message?: string }>(
    (resolve) => (onStart = resolve)
  )
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))

  worker.process.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
  worker.process.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
  worker.on('error', (error) => output.push(`worker error: ${error.message}`))
  worker.on('message', (message: { test?: string } & Record<string, unknown>) => {
    if (message?.test === 'event') events.push(message as unknown as SeenEvent)
    else if (message?.test === 'started') onStart(message as unknown as { ready: boolean })
    else if (message?.test === 'reply') pending.get(message.id as number)?.(message as unknown as Reply)
  })
  worker.once('exit', (code, signal) => {
    onStart({ ready: false, name: 'exit', message: `worker exited (${code ?? signal}): ${output.join('')}` })
    for (const resolve of pending.values())
      resolve({ test: 'reply', id: -1, error: `worker exited (${code ?? signal})` })
  })

  const handle: TestWorker = {
    worker,
    events,
    output,
    started,
    seen: (event, marker) => events.filter((e) => e.event === event && e.marker === marker),
    run<T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
      const id = ++nextId
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`worker did not answer "${cmd}" within 10 s`)),
          10_000
        )
        pending.set(id, (reply) => {
          clearTimeout(timer)
          pending.delete(id)
          if (reply.error !== undefined) reject(new Error(reply.error))
          else resolve(reply.value as T)
        })
        worker.send({ test: 'cmd', id, cmd, ...args })
      })
    },
    async kill() {
      if (worker.process.exitCode === null && worker.process.signalCode === null)
        worker.process.kill('SIGKILL')
      await exited
      forked.delete(handle)
    }
  }
  forked.add(handle)
  return handle
}

/** Forks `count` workers and waits until every one is ready. */
export async function forkReady(count: number, options: ForkOptions = {}): Promise<TestWorker[]> {
  const workers = Array.from({ length: count }, () => forkWorker(options))
  const states = await Promise.all(workers.map((w) => w.started))
  const failed = states.find((state) => !state.ready)
  if (failed) throw new Error(`a worker did not get ready: ${failed.name}: ${failed.message}`)
  return workers
}

/** Kills every worker forked by this file; bounded, since each kill is SIGKILL. */
export async function killAll(): Promise<void> {
  await Promise.all([...forked].map((w) => w.kill()))
}

/** Waits until every worker in `fleet` saw `event` for `marker`. */
export const waitSeen = (
  fleet: TestWorker[],
  event: string,
  marker: string,
  timeoutMs?: number
): Promise<void> =>
  waitFor(
    `"${event}" ${marker} on every worker`,
    () => fleet.every((w) => w.seen(event, marker).length > 0),
    timeoutMs
  )
