/**
 * A Redis the demo starts itself for `--uri redis://127.0.0.1:<port>` when nothing listens there and
 * `redis-server` is installed, so the dashboard can stop and start the broker and show the fleet
 * riding out the outage. A broker the demo did not start is never touched.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

const READY_TIMEOUT_MS = 10_000
const STOP_TIMEOUT_MS = 5_000
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost'])

/** Whether something accepts TCP connections on 127.0.0.1:port (bounded by `timeoutMs`). */
export function listening(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    const done = (open: boolean) => {
      socket.destroy()
      resolve(open)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/** A redis-server child process on 127.0.0.1:port, without persistence, in its own temp dir. */
export class OwnedRedis {
  private child: ChildProcess | undefined
  private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-demo-redis-'))

  constructor(readonly port: number) {}

  get running(): boolean {
    return this.child !== undefined
  }

  get pid(): number | undefined {
    return this.child?.pid
  }

  /** Starts redis-server and resolves once it accepts connections. */
  async start(): Promise<void> {
    if (this.child) return
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
    // Not detached: a Ctrl-C in the terminal reaches it like every other process of the demo.
    const child = spawn('redis-server', [...args, '--dir', this.dir], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    let output = ''
    child.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-2_000)))
    child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-2_000)))
    const gone = () => {
      if (this.child === child) this.child = undefined
    }
    child.once('error', (error) => {
      output += `\n${error.message}`
      gone()
    })
    child.once('exit', gone)
    const deadline = Date.now() + READY_TIMEOUT_MS
    while (!(await listening(this.port))) {
      if (this.child !== child || Date.now() > deadline) {
        await this.stop()
        throw new Error(`redis-server on port ${this.port} did not start:\n${output}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  /** SIGTERM, then SIGKILL after a bound; resolves once the process exited. */
  async stop(): Promise<void> {
    const child = this.child
    if (!child) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    await exited
    clearTimeout(timer)
  }

  /** Stops the server and removes its temp dir. */
  async close(): Promise<void> {
    await this.stop()
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}

/**
 * Starts a private Redis for a loopback `redis://` URI whose port is free, when redis-server is
 * installed; otherwise returns undefined and the instances use (or fail to reach) what is there.
 */
export async function startOwnedBroker(uri: string): Promise<OwnedRedis | undefined> {
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    return undefined
  }
  if (url.protocol !== 'redis:' || !LOOPBACK_HOSTS.has(url.hostname)) return undefined
  const port = Number(url.port || 6379)
  if (await listening(port)) return undefined
  if (spawnSync('redis-server', ['--version']).status !== 0) return undefined
  const redis = new OwnedRedis(port)
  await redis.start()
  return redis
}
