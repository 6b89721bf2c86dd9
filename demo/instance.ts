/**
 * One demo instance, run in a `cluster` worker forked by demo/primary.ts. It reports to the primary
 * with plain IPC messages (`{ demo: … }`), which the feathers-fanout relay leaves alone.
 */
import type { Server } from 'node:http'
import type { Application } from '@feathersjs/koa'
import type { Server as SocketServer } from 'socket.io'
import { createDemoApp, listen, type InstanceInfo } from './app'
import { createControls, serveControls } from './controls'
import { Monitor, type Tick } from './monitor'

/** Messages an instance sends to the primary. */
export type InstanceReport =
  | { demo: 'ready'; instance: number; url: string; pid: number }
  | { demo: 'failed'; instance: number; message: string }

const SHUTDOWN_MS = 3_000
// A junk flood makes every instance report thousands of undecodable messages: print a summary at most
// this often instead of one line each.
const ERROR_PRINT_MS = 1_000

// Resolves once the message is on its way, so an instance may exit right after a report.
const report = (message: InstanceReport): Promise<void> =>
  new Promise((resolve) => {
    if (!process.send) resolve()
    else process.send(message, undefined, {}, () => resolve())
  })

function explain(error: unknown, port: number, host: string): string {
  const code = (error as NodeJS.ErrnoException)?.code
  if (code === 'EADDRINUSE') return `port ${port} on ${host} is in use; start elsewhere with --port <port>`
  if (code === 'EACCES') return `not allowed to listen on port ${port}; use a port above 1023 with --port`
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}

/** Starts the instance described by the DEMO_* environment variables the primary set. */
export async function runInstance(): Promise<void> {
  const instance = Number(process.env.DEMO_INSTANCE)
  const port = Number(process.env.DEMO_PORT)
  const host = process.env.DEMO_HOST ?? '127.0.0.1'
  const uri = process.env.DEMO_URI ?? 'cluster://'
  let app: Application | undefined
  let server: Server | undefined
  let release = async (): Promise<void> => undefined
  let stopping = false

  const stop = async (code: number) => {
    if (stopping) return
    stopping = true
    // Bounded: an open websocket must not keep a stopping instance alive.
    const timer = setTimeout(() => process.exit(code), SHUTDOWN_MS)
    server?.closeAllConnections()
    await release().catch(() => undefined)
    await app?.teardown().catch(() => undefined)
    clearTimeout(timer)
    process.exit(code)
  }
  // Ctrl-C reaches every process of the terminal's group: each instance stops by itself.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stop(0))
  // The primary is gone (even killed with SIGKILL): nobody would replace or stop this instance.
  process.once('disconnect', () => void stop(0))

  try {
    app = createDemoApp({
      instance,
      instances: Number(process.env.DEMO_INSTANCES),
      basePort: Number(process.env.DEMO_BASE_PORT),
      uri,
      transport: process.env.DEMO_TRANSPORT ?? 'cluster://',
      dashboard: process.env.DEMO_DASHBOARD ?? '',
      recovery: process.env.DEMO_RECOVERY === '1'
    })
    printErrors(app, instance)
    server = await listen(app, port, host)
    const io = app.io as SocketServer
    const info = app.service('instance') as { find(): Promise<InstanceInfo> }
    const monitor = new Monitor(
      app,
      instance,
      () => info.find(),
      (tick: Tick) => io.emit('demo:tick', tick)
    )
    const { controls, close } = createControls(app, uri, monitor)
    serveControls(io, controls)
    monitor.start()
    release = async () => {
      monitor.stop()
      await close()
    }
    await app.sync.ready
    const address = server.address()
    const actual = typeof address === 'object' && address !== null ? address.port : port
    await report({ demo: 'ready', instance, url: `http://${host}:${actual}`, pid: process.pid })
  } catch (error) {
    await report({ demo: 'failed', instance, message: explain(error, port, host) })
    await stop(1)
  }
}

/** The sync errors the app would log, in the primary's output; a flood of them as one line a second. */
function printErrors(app: Application, instance: number): void {
  let last = 0
  let unprinted = 0
  app.on('sync-error', (error: Error) => {
    const now = Date.now()
    if (now - last < ERROR_PRINT_MS) {
      unprinted++
      return
    }
    const more = unprinted > 0 ? ` (and ${unprinted} more errors)` : ''
    process.stderr.write(`[instance ${instance}] ${error.name}: ${error.message}${more}\n`)
    last = now
    unprinted = 0
  })
}
