/**
 * The demo's instances as the primary sees them: forks one `cluster` worker per instance, replaces
 * one that exits (killed from the dashboard or crashed), and tells listeners whenever one changes.
 */
import cluster, { type Worker } from 'node:cluster'
import { EventEmitter } from 'node:events'
import type { InstanceReport } from './instance'

export type InstanceState = 'starting' | 'ready' | 'exited'

/** One instance, as the dashboard lists it. */
export interface FleetMember {
  instance: number
  state: InstanceState
  /** Known once the instance is ready; a replacement may get another port when the demo runs on port 0. */
  url?: string
  pid?: number
  /** How often it was replaced. */
  replaced: number
}

export interface FleetOptions {
  instances: number
  /** Environment of instance `n`'s worker. */
  env: (instance: number) => NodeJS.ProcessEnv
  /** A line for the console. */
  print: (text: string) => void
}

const STOP_TIMEOUT_MS = 5_000
// Crashes in a row after which an instance is left down. Kills asked for from the dashboard do not count.
const MAX_CRASHES = 5

/** Emits `change` (with the members) whenever an instance starts, becomes ready or exits. */
export class Fleet extends EventEmitter<{ change: [FleetMember[]]; report: [InstanceReport] }> {
  private readonly workers = new Map<number, Worker>()
  private readonly members = new Map<number, FleetMember>()
  private readonly crashes = new Map<number, number>()
  private readonly killed = new Set<Worker>()
  private stopping = false

  constructor(private readonly options: FleetOptions) {
    super()
    cluster.on('message', this.onMessage)
  }

  /** Forks every instance; see `report` events for when they are ready. */
  start(): void {
    for (let instance = 1; instance <= this.options.instances; instance++) this.fork(instance)
  }

  list(): FleetMember[] {
    return [...this.members.values()].sort((a, b) => a.instance - b.instance)
  }

  /**
   * Kills instance `instance` with SIGKILL, as a crash would; a replacement starts right away.
   * @returns false when there is no such running instance
   */
  kill(instance: number): boolean {
    const worker = this.workers.get(instance)
    if (!worker || this.stopping) return false
    this.killed.add(worker)
    worker.process.kill('SIGKILL')
    return true
  }

  /** SIGTERM to every instance, SIGKILL to those still running after a bound; resolves once all exited. */
  async stop(): Promise<void> {
    this.stopping = true
    const workers = [...this.workers.values()].filter((worker) => !worker.isDead())
    const exits = workers.map((worker) => new Promise((resolve) => worker.once('exit', resolve)))
    for (const worker of workers) worker.process.kill('SIGTERM')
    const timer = setTimeout(() => {
      for (const worker of workers) if (!worker.isDead()) worker.process.kill('SIGKILL')
    }, STOP_TIMEOUT_MS)
    await Promise.all(exits)
    clearTimeout(timer)
    cluster.off('message', this.onMessage)
  }

  private fork(instance: number): void {
    const worker = cluster.fork(this.options.env(instance))
    this.workers.set(instance, worker)
    const previous = this.members.get(instance)
    this.update({ instance, state: 'starting', replaced: previous ? previous.replaced + 1 : 0 })
    worker.on('exit', (code, signal) => {
      if (this.workers.get(instance) === worker) this.workers.delete(instance)
      if (this.stopping) return
      const asked = this.killed.delete(worker)
      this.update({ ...(this.members.get(instance) as FleetMember), state: 'exited' })
      // Like any cluster app: an instance that exits is replaced, and the new one rejoins the sync.
      const crashes = asked ? 0 : (this.crashes.get(instance) ?? 0) + 1
      this.crashes.set(instance, crashes)
      const why = asked ? 'killed from the dashboard' : `exited (${code ?? signal})`
      if (crashes > MAX_CRASHES)
        return this.options.print(`Instance ${instance} ${why} too often; not restarting it`)
      this.options.print(`Instance ${instance} ${why}; starting a replacement`)
      this.fork(instance)
    })
  }

  private readonly onMessage = (worker: Worker, message: InstanceReport): void => {
    if (typeof message !== 'object' || message === null || !('demo' in message)) return
    if (this.workers.get(message.instance) !== worker) return
    if (message.demo === 'ready') {
      const member = this.members.get(message.instance) as FleetMember
      this.update({ ...member, state: 'ready', url: message.url, pid: message.pid })
      this.crashes.set(message.instance, 0)
    }
    this.emit('report', message)
  }

  private update(member: FleetMember): void {
    this.members.set(member.instance, member)
    this.emit('change', this.list())
  }
}
