import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import type { BrokerHandle, BrokerKind } from './index'
import { canConnect, LOOPBACK, settlesWithin, sleep, waitPortFree } from './ports'

export interface BrokerSpec {
  kind: BrokerKind
  port: number
  url: string
  dir: string
  command: string
  args: string[]
  env?: NodeJS.ProcessEnv
  /** Runs before every spawn, so a restart after stop() (which removed the dir) finds its files again. */
  prepare?: (dir: string) => void
  /** Resolves true once the broker serves clients. Must bound its own duration and release what it opens. */
  probe: () => Promise<boolean>
  readyTimeoutMs: number
  /** Bound for a graceful (non-SIGKILL) exit; default 15 s. */
  stopTimeoutMs?: number
}

/** The broker process died before it became ready (typically: its port was taken meanwhile). */
export class BrokerExitedError extends Error {}

type ProcInfo = { pid: number; ppid: number; pgrp: number; zombie: boolean }

// Linux /proc (elsewhere only the leader is tracked). Brokers may spawn helpers in other process groups
// (Erlang's erl_child_setup calls setsid), so the group alone does not cover everything they started.
function parseStat(pid: string): ProcInfo {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  const [state, ppid, pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { pid: Number(pid), ppid: Number(ppid), pgrp: Number(pgrp), zombie: state === 'Z' }
}

/** The leader, the rest of its process group and all their descendants, with their depth. */
export function processTree(leader: number): Map<number, number> {
  const names = fs.existsSync('/proc/self') ? fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)) : []
  const procs = names.flatMap((name) => {
    try {
      return [parseStat(name)].filter((p) => !p.zombie)
    } catch {
      return [] // exited during the scan
    }
  })
  const depth = new Map<number, number>([[leader, 0]])
  for (const p of procs) if (p.pgrp === leader && p.pid !== leader) depth.set(p.pid, 1)
  for (let grew = true, rounds = 0; grew && rounds < 64; rounds++) {
    grew = false
    for (const p of procs) {
      const parentDepth = depth.get(p.ppid)
      if (parentDepth === undefined || depth.has(p.pid)) continue
      depth.set(p.pid, parentDepth + 1)
      grew = true
    }
  }
  return depth
}

/** False for zombies too: they no longer run or hold ports, and an init that never reaps keeps them. */
export function isAlive(pid: number): boolean {
  try {
    return !parseStat(String(pid)).zombie
  } catch {
    return false
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig)
  } catch {
    // Already gone.
  }
}

async function waitGone(pids: number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (pids.some(isAlive)) {
    if (Date.now() >= deadline) return false
    await sleep(25)
  }
  return true
}

const live = new Set<BrokerProcess>()
let hooksInstalled = false

/** Last resort when the test process ends without stopping its brokers: SIGKILL all of them. */
function installExitHooks(): void {
  if (hooksInstalled) return
  hooksInstalled = true
  process.on('exit', () => {
    for (const broker of live) broker.killNow()
  })
  // Brokers sit in their own process groups, so a terminal's Ctrl-C does not reach them.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const broker of live) broker.killNow()
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig)
    })
  }
}

export class BrokerProcess implements BrokerHandle {
  readonly kind: BrokerKind
  readonly host = LOOPBACK
  readonly port: number
  readonly url: string
  readonly dir: string
  readonly logFile: string
  private child: ChildProcess | undefined
  private exited: Promise<void> = Promise.resolve()
  private paused = false

  constructor(private readonly spec: BrokerSpec) {
    this.kind = spec.kind
    this.port = spec.port
    this.url = spec.url
    this.dir = spec.dir
    this.logFile = path.join(spec.dir, `${spec.kind}.log`)
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  /** Spawns the broker and waits until it is ready; on failure it is killed and the error has the log tail. */
  async start(): Promise<void> {
    // Otherwise the probe could mistake whatever already listens there for our broker.
    if (await canConnect(this.port, 250)) {
      throw new BrokerExitedError(`${this.kind}: port ${LOOPBACK}:${this.port} is already in use`)
    }
    this.spawn()
    try {
      await this.waitReady()
    } catch (err) {
      await this.kill('SIGKILL')
      throw err
    }
  }

  private spawn(): void {
    fs.mkdirSync(this.dir, { recursive: true })
    this.spec.prepare?.(this.dir)
    const { command, args } = this.spec
    fs.appendFileSync(this.logFile, `\n--- ${new Date().toISOString()} ${command} ${args.join(' ')}\n`)
    const fd = fs.openSync(this.logFile, 'a')
    try {
      // detached: own process group, so kill/pause can target the broker and everything it forked.
      const child = spawn(command, args, {
        cwd: this.dir,
        env: { ...process.env, ...this.spec.env },
        detached: true,
        stdio: ['ignore', fd, fd]
      })
      // Unref: a broker a test forgot to stop must not keep the worker alive; the exit hook kills it.
      child.unref()
      this.child = child
      this.paused = false
      live.add(this)
      installExitHooks()
      this.exited = new Promise((resolve) => {
        const done = (): void => {
          live.delete(this)
          resolve()
        }
        child.once('exit', done)
        child.once('error', (err) => {
          fs.appendFileSync(this.logFile, `spawn failed: ${err.message}\n`)
          done()
        })
      })
    } finally {
      fs.closeSync(fd)
    }
  }

  private async waitReady(): Promise<void> {
    const { kind, readyTimeoutMs, probe } = this.spec
    const deadline = Date.now() + readyTimeoutMs
    for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
      if (!this.running) {
        const status = this.child?.exitCode ?? this.child?.signalCode ?? 'spawn error'
        throw new BrokerExitedError(
          `${kind} on port ${this.port} exited (${status}) before it was ready.${this.tail()}`
        )
      }
      if ((await probe()) && this.running) return
      if (Date.now() >= deadline) {
        throw new Error(
          `${kind} on port ${this.port} was not ready within ${readyTimeoutMs} ms.${this.tail()}`
        )
      }
      await sleep(Math.min(delay, Math.max(0, deadline - Date.now())))
    }
  }

  /** The last lines of the broker's output, for error messages. */
  tail(): string {
    try {
      const text = fs.readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-30).join('\n')
      return `\n--- last lines of ${this.logFile} ---\n${text}`
    } catch {
      return ` (no log at ${this.logFile})`
    }
  }

  /** Sends `sig` and waits until the broker and its helpers are gone. Meant for terminating signals. */
  async kill(sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const pid = this.child?.pid
    if (pid === undefined || !this.running) return
    const tree = processTree(pid)
    if (sig === 'SIGKILL') {
      // Deepest first, so each parent is still alive to reap its child and no zombies pile up under an
      // init that does not reap; the leader goes last and Node reaps it.
      const maxDepth = Math.max(...tree.values())
      for (let depth = maxDepth; depth > 0; depth--) {
        const level = [...tree].filter(([, d]) => d === depth).map(([p]) => p)
        for (const p of level) signal(p, 'SIGKILL')
        await waitGone(level, 300)
      }
    }
    signal(-pid, sig)
    if (this.paused && sig !== 'SIGKILL') signal(-pid, 'SIGCONT')
    this.paused = false
    const timeoutMs = sig === 'SIGKILL' ? 10_000 : (this.spec.stopTimeoutMs ?? 15_000)
    if (!(await settlesWithin(this.exited, timeoutMs)) || !(await waitGone([...tree.keys()], timeoutMs))) {
      throw new Error(
        `${this.kind} (pid ${pid}) did not exit within ${timeoutMs} ms of ${sig}.${this.tail()}`
      )
    }
  }

  /** Synchronous SIGKILL of the group and all helpers plus temp dir removal, for the process exit hook. */
  killNow(): void {
    const pid = this.child?.pid
    if (pid === undefined || !this.running) return
    for (const p of processTree(pid).keys()) signal(p, 'SIGKILL')
    signal(-pid, 'SIGKILL')
    try {
      fs.rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 })
    } catch {
      // Best effort: the process is exiting anyway.
    }
  }

  async restart(): Promise<void> {
    await this.kill('SIGKILL')
    // Once seen on a busy machine: the port taken right after the kill by an unknown listener. Wait for
    // it (bounded) instead of failing at once; if it stays taken, the error names the holder.
    await waitPortFree(this.port, 15_000)
    await this.start()
  }

  pause(): void {
    this.groupSignal('SIGSTOP')
    this.paused = true
  }

  resume(): void {
    this.groupSignal('SIGCONT')
    this.paused = false
  }

  private groupSignal(sig: NodeJS.Signals): void {
    const pid = this.child?.pid
    if (pid === undefined || !this.running)
      throw new Error(`${this.kind} on port ${this.port} is not running`)
    process.kill(-pid, sig)
  }

  /** SIGTERM, SIGKILL if that takes too long, then remove the temp dir. Safe to call repeatedly. */
  async stop(): Promise<void> {
    try {
      await this.kill('SIGTERM')
    } catch {
      await this.kill('SIGKILL')
    }
    fs.rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 })
  }
}

/**
 * Builds a fresh spec (new free ports) and starts it, retrying a few times when the broker dies at
 * startup, which is what losing a race for a port from freePort() looks like. A fixed port gets one try.
 */
export async function launch(build: () => Promise<BrokerSpec>, attempts: number): Promise<BrokerProcess> {
  for (let attempt = 1; ; attempt++) {
    const broker = new BrokerProcess(await build())
    try {
      await broker.start()
      return broker
    } catch (err) {
      await broker.stop()
      if (!(err instanceof BrokerExitedError) || attempt >= attempts) throw err
    }
  }
}
