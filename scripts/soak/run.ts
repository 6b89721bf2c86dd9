/**
 * Runs one soak target: a private broker, N instance processes, credit-based flow so that nothing
 * piles up in any queue, memory samples after a full GC at every tenth of the run.
 */
import { fork, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import type { SyncOptions } from '../../src/index'
import type { BrokerHandle } from '../../test/brokers'
import { TSX_IMPORT } from '../../test/helpers/cluster-harness'
import { CONFIG_ENV, type SoakAsk, type SoakConfig, type SoakProgress } from './protocol'

export interface SoakTarget {
  name: string
  start(): Promise<BrokerHandle>
  options(broker: BrokerHandle, key: string): SyncOptions
  version(broker: BrokerHandle): Promise<string>
}

export interface MemorySample {
  /** Share of the events sent when sampled, 0 to 1. */
  at: number
  elapsedMs: number
  /** Per instance, in bytes, after a full GC. */
  heapUsed: number[]
  rss: number[]
}

export interface SoakResult {
  target: string
  broker: string
  instances: number
  events: number
  expectedDeliveries: number
  deliveries: number
  gaps: number
  duplicates: number
  statusChanges: number
  /** `sync-gap` events reported by the instances (durable mode). */
  syncGaps: number
  dropped: number
  /** The core's drops by reason, summed over the instances. */
  droppedBy: Record<string, number>
  publishErrors: number
  durationMs: number
  completed: boolean
  samples: MemorySample[]
}

/** Events a sender may have outstanding beyond what its slowest receiver has: bounds every queue. */
const WINDOW = 5_000
const POLL_MS = 200

interface Child {
  proc: ChildProcess
  ask<T>(command: SoakAsk): Promise<T>
}

function spawn(config: SoakConfig): Promise<Child> {
  const proc = fork(path.join(__dirname, 'instance.ts'), [], {
    execArgv: ['--expose-gc', ...TSX_IMPORT],
    env: { ...process.env, [CONFIG_ENV]: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const pending = new Map<number, (value: unknown) => void>()
  let nextId = 0
  proc.on('message', (message: { id: number; value: unknown }) => pending.get(message.id)?.(message.value))
  const child: Child = {
    proc,
    ask: (command) =>
      new Promise((resolve, reject) => {
        const id = ++nextId
        const timer = setTimeout(
          () => reject(new Error(`instance ${config.index}: no answer to ${command.cmd}`)),
          60_000
        )
        pending.set(id, (value) => {
          clearTimeout(timer)
          pending.delete(id)
          resolve(value as never)
        })
        proc.send({ ...command, id })
      })
  }
  return new Promise((resolve, reject) => {
    pending.set(0, (value) => (value === 'ready' ? resolve(child) : reject(new Error(String(value)))))
    proc.once('exit', (code) => reject(new Error(`instance ${config.index} exited (${code})`)))
  })
}

export async function soak(
  target: SoakTarget,
  events: number,
  instances: number,
  maxMs: number
): Promise<SoakResult> {
  const broker = await target.start()
  const children: Child[] = []
  try {
    const version = await target.version(broker)
    const share = Math.ceil(events / instances)
    const key = `soak-${process.pid}-${Date.now().toString(36)}`
    for (let index = 0; index < instances; index++) {
      children.push(await spawn({ index, share, sync: target.options(broker, key) }))
    }
    const samples: MemorySample[] = []
    const started = Date.now()
    const sample = async (at: number) => {
      const memory = await Promise.all(children.map((c) => c.ask<NodeJS.MemoryUsage>({ cmd: 'memory' })))
      samples.push({
        at,
        elapsedMs: Date.now() - started,
        heapUsed: memory.map((m) => m.heapUsed),
        rss: memory.map((m) => m.rss)
      })
    }
    await sample(0)
    let progress: SoakProgress[] = []
    const receivedBy = (r: number, s: number) => progress[r]?.received[s]?.count ?? 0
    let nextSample = 0.1
    let completed = false
    while (Date.now() - started < maxMs) {
      progress = await Promise.all(
        children.map((child, s) => {
          const slowest = Math.min(...children.map((_, r) => (r === s ? Infinity : receivedBy(r, s))))
          return child.ask<SoakProgress>({
            cmd: 'allow',
            upTo: (progress.length === 0 ? 0 : slowest) + WINDOW
          })
        })
      )
      const done = progress.reduce((sum, p) => sum + p.sent, 0) / (share * instances)
      completed = progress.every((p, r) => children.every((_, s) => r === s || receivedBy(r, s) >= share))
      if (done >= nextSample || completed) {
        await sample(Math.min(1, done))
        nextSample = Math.floor(done * 10 + 1) / 10
      }
      if (completed) break
      await new Promise((resolve) => setTimeout(resolve, POLL_MS))
    }
    const durationMs = Date.now() - started
    const pairs = progress.flatMap((p) => Object.values(p.received))
    const sum = (values: number[]) => values.reduce((total, n) => total + n, 0)
    return {
      target: target.name,
      broker: version,
      instances,
      events: sum(progress.map((p) => p.sent)),
      expectedDeliveries: sum(progress.map((p) => p.sent)) * (instances - 1),
      deliveries: sum(pairs.map((p) => p.count)),
      gaps: sum(pairs.map((p) => p.gaps)),
      duplicates: sum(pairs.map((p) => p.duplicates)),
      statusChanges: sum(progress.map((p) => p.statusChanges)),
      syncGaps: sum(progress.map((p) => p.syncGaps)),
      droppedBy: progress.reduce<Record<string, number>>((all, p) => {
        for (const [reason, n] of Object.entries(p.droppedBy)) all[reason] = (all[reason] ?? 0) + n
        return all
      }, {}),
      dropped: sum(progress.map((p) => p.dropped)),
      publishErrors: sum(progress.map((p) => p.publishErrors)),
      durationMs,
      completed,
      samples
    }
  } finally {
    await Promise.all(children.map((child) => child.ask({ cmd: 'close' }).catch(() => undefined)))
    for (const { proc } of children) if (proc.exitCode === null) proc.kill('SIGKILL')
    await broker.stop()
  }
}
