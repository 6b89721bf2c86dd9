/**
 * The dashboard's server, in the demo's primary: the page and its scripts, the fleet as server-sent
 * events (`GET /api/fleet`), and the actions only the primary can take: kill an instance, stop and
 * start the broker it started. Everything else the page gets from each instance's own socket.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import fs from 'node:fs'
import path from 'node:path'
import type { OwnedRedis } from './broker'
import { clientBundle } from './client-bundle'
import type { Fleet, FleetMember } from './fleet'

/** What `GET /api/fleet` sends as each event's data. */
export interface FleetView {
  transport: string
  instances: FleetMember[]
  /** Present when the demo started the broker: the dashboard may stop and start it. */
  broker?: { kind: 'redis'; port: number; running: boolean; busy: boolean }
  /** Client recovery is on (`--recovery`): the dashboard links to the client page. */
  recovery: boolean
}

export interface DashboardOptions {
  fleet: Fleet
  transport: string
  broker?: OwnedRedis
  recovery?: boolean
}

const PUBLIC = path.join(__dirname, 'public')
const FILES: Record<string, [file: string, type: string]> = {
  '/': [path.join(PUBLIC, 'dashboard.html'), 'text/html; charset=utf-8'],
  '/dashboard.css': [path.join(PUBLIC, 'dashboard.css'), 'text/css; charset=utf-8'],
  '/dashboard.js': [path.join(PUBLIC, 'dashboard.js'), 'text/javascript; charset=utf-8'],
  '/plot.js': [path.join(PUBLIC, 'plot.js'), 'text/javascript; charset=utf-8'],
  '/column.js': [path.join(PUBLIC, 'column.js'), 'text/javascript; charset=utf-8'],
  '/client.html': [path.join(PUBLIC, 'client.html'), 'text/html; charset=utf-8'],
  '/client.js': [path.join(PUBLIC, 'client.js'), 'text/javascript; charset=utf-8'],
  // The socket.io client the page connects to every instance with, served here: no CDN needed.
  '/socket.io.js': [require.resolve('socket.io-client/dist/socket.io.js'), 'text/javascript; charset=utf-8']
}
const HEARTBEAT_MS = 15_000

function reply(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' })
  response.end(JSON.stringify(body))
}

export interface Dashboard {
  readonly server: http.Server
  /** Ends the event streams, closes every connection and the server. */
  close(): Promise<void>
}

/** The dashboard server, not listening yet. */
export function createDashboard(options: DashboardOptions): Dashboard {
  const { fleet, broker, transport } = options
  const streams = new Set<ServerResponse>()
  let brokerBusy = false

  const view = (): FleetView => ({
    transport,
    instances: fleet.list(),
    broker: broker && { kind: 'redis', port: broker.port, running: broker.running, busy: brokerBusy },
    recovery: options.recovery === true
  })
  const publish = () => {
    const frame = `data: ${JSON.stringify(view())}\n\n`
    for (const stream of streams) stream.write(frame)
  }
  fleet.on('change', publish)

  const toggleBroker = async (action: string, response: ServerResponse): Promise<void> => {
    if (!broker) return reply(response, 404, { error: 'the demo did not start the broker' })
    if (brokerBusy) return reply(response, 409, { error: 'the broker is starting or stopping' })
    brokerBusy = true
    publish()
    try {
      await (action === 'stop' ? broker.stop() : broker.start())
      reply(response, 200, { running: broker.running })
    } catch (error) {
      reply(response, 500, { error: (error as Error).message })
    } finally {
      brokerBusy = false
      publish()
    }
  }

  const route = (request: IncomingMessage, response: ServerResponse): void => {
    const { pathname } = new URL(request.url ?? '/', 'http://dashboard')
    const file = FILES[pathname]
    if (request.method === 'GET' && file) {
      response.writeHead(200, { 'content-type': file[1], 'cache-control': 'no-store' })
      fs.createReadStream(file[0]).pipe(response)
      return
    }
    if (request.method === 'GET' && pathname === '/client-bundle.js') {
      clientBundle().then(
        (code) => {
          response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' })
          response.end(code)
        },
        (error: Error) => reply(response, 500, { error: error.message })
      )
      return
    }
    if (request.method === 'GET' && pathname === '/api/fleet') {
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
      response.write(`retry: 1000\ndata: ${JSON.stringify(view())}\n\n`)
      streams.add(response)
      request.once('close', () => streams.delete(response))
      return
    }
    const kill = /^\/api\/instances\/(\d+)\/kill$/.exec(pathname)
    if (request.method === 'POST' && kill) {
      const done = fleet.kill(Number(kill[1]))
      return reply(response, done ? 200 : 409, done ? { killed: Number(kill[1]) } : { error: 'not running' })
    }
    const action = /^\/api\/broker\/(stop|start)$/.exec(pathname)
    if (request.method === 'POST' && action) return void toggleBroker(action[1], response)
    reply(response, 404, { error: `no ${request.method} ${pathname}` })
  }

  const server = http.createServer(route)
  // A comment line now and then, so proxies and browsers keep an idle event stream open.
  const heartbeat = setInterval(() => {
    for (const stream of streams) stream.write(': still here\n\n')
  }, HEARTBEAT_MS)
  heartbeat.unref()
  const close = (): Promise<void> => {
    clearInterval(heartbeat)
    fleet.off('change', publish)
    for (const stream of streams) stream.end()
    streams.clear()
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeAllConnections()
    return closed
  }
  return { server, close }
}
