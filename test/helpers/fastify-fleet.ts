/**
 * Forks Fastify instances (test/helpers/fastify-worker.ts), each a process of its own, and talks to them
 * over HTTP on 127.0.0.1.
 */
import { fork, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import type { FanoutGroupOptions, FanoutOptions, GroupStats } from '../../src/fastify'
import type { SyncStats, SyncStatus } from '../../src/engine/stats'
import { TSX_IMPORT } from './cluster-harness'
import type { SeenTick } from './fastify-topics'

const STOP_TIMEOUT_MS = 8_000

export interface FastifyProcess {
  readonly instanceId: string
  readonly url: string
  readonly output: string[]
  publish(marker: string, count: number, topic?: string): Promise<number>
  seen(marker: string): Promise<SeenTick[]>
  /** The ticks of `marker` its group handler handled (started with a group). */
  handled(marker: string): Promise<SeenTick[]>
  /** Its `groupStats()`. */
  groups(): Promise<GroupStats[]>
  /** How many ticks of `marker` it has, without fetching them. */
  count(marker: string): Promise<number>
  info(): Promise<{ instanceId: string; status: SyncStatus; stats: SyncStats; errors: string[] }>
  /** SIGTERM: Fastify closes (onClose closes the bus, saving a durable position), then the process exits. */
  stop(): Promise<number | null>
}

const started = new Set<ChildProcess>()

async function call<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await fetch(url, init)
  if (!response.ok)
    throw new Error(`${init?.method ?? 'GET'} ${url}: ${response.status} ${await response.text()}`)
  return (await response.json()) as T
}

/** A consumer group the instance handles `fleet.tick` in, each message taking `workMs`. */
export type WorkerGroup = FanoutGroupOptions & { workMs?: number }

/**
 * Starts one instance with `options` (and a group handler with `group`) and resolves once its bus is
 * ready and it listens.
 */
export function startInstance(
  options: FanoutOptions,
  timeoutMs = 60_000,
  group?: WorkerGroup
): Promise<FastifyProcess> {
  const groupEnv = group === undefined ? {} : { FANOUT_FASTIFY_GROUP: JSON.stringify(group) }
  const child = fork(path.join(__dirname, 'fastify-worker.ts'), [], {
    execArgv: TSX_IMPORT,
    env: { ...process.env, FANOUT_FASTIFY_OPTIONS: JSON.stringify(options), ...groupEnv },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc']
  })
  started.add(child)
  const output: string[] = []
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`a Fastify instance was not ready within ${timeoutMs} ms:\n${output.join('')}`))
    }, timeoutMs)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(
        new Error(`a Fastify instance exited (${code ?? signal}) before it was ready:\n${output.join('')}`)
      )
    })
    child.once(
      'message',
      (message: { ready: boolean; port?: number; instanceId?: string; message?: string }) => {
        clearTimeout(timer)
        if (!message.ready) return reject(new Error(`a Fastify instance failed: ${message.message}`))
        const url = `http://127.0.0.1:${message.port}`
        resolve({
          instanceId: message.instanceId as string,
          url,
          output,
          publish: async (marker, count, topic) =>
            (
              await call<{ published: number }>(`${url}/publish`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ marker, count, topic })
              })
            ).published,
          seen: (marker) => call<SeenTick[]>(`${url}/seen?marker=${encodeURIComponent(marker)}`),
          handled: (marker) => call<SeenTick[]>(`${url}/handled?marker=${encodeURIComponent(marker)}`),
          groups: () => call<GroupStats[]>(`${url}/groups`),
          count: async (marker) =>
            (await call<{ count: number }>(`${url}/count?marker=${encodeURIComponent(marker)}`)).count,
          info: () => call(`${url}/info`),
          stop: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
            const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
            const code = await exited
            clearTimeout(timer)
            started.delete(child)
            return code
          }
        })
      }
    )
  })
}

/** Kills whatever is still running (after a failed test); bounded, since it is SIGKILL. */
export async function killInstances(): Promise<void> {
  await Promise.all(
    [...started].map(async (child) => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGKILL')
        await exited
      }
      started.delete(child)
    })
  )
}

/**
 * Polls the async `check` every 20 ms until it holds; after `timeoutMs` fails with `what` and what
 * `state()` says then (each instance's counts, status and counters).
 */
export async function pollUntil(
  what: string,
  check: () => Promise<boolean>,
  state: () => Promise<string>,
  timeoutMs = 30_000
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}:\n${await state()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
