/**
 * Feathers servers with real socket.io clients, synced by this library or by feathers-sync 3.1.1, on
 * the shared test brokers: what a rolling upgrade looks like from a browser's side.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { feathers, type Application } from '@feathersjs/feathers'
import { koa } from '@feathersjs/koa'
import { MemoryService } from '@feathersjs/memory'
import socketio from '@feathersjs/socketio'
import socketioClient from '@feathersjs/socketio-client'
import { io, type Socket } from 'socket.io-client'
import { uniqueKey, waitFor } from './apps'

export type Broker = 'redis' | 'amqp' | 'nats'
const URL_ENV: Record<Broker, string> = {
  redis: 'FANOUT_REDIS_URL',
  amqp: 'FANOUT_AMQP_URL',
  nats: 'FANOUT_NATS_URL'
}

/** The shared test broker's URL; throws when this run did not start it. */
export function brokerUrl(broker: Broker): string {
  const url = process.env[URL_ENV[broker]]
  if (!url) throw new Error(`${URL_ENV[broker]} is not set: run with FANOUT_BROKERS including ${broker}`)
  return url
}

// feathers-sync ships no types; this is the part of its API the tests use.
type FeathersSync = (options: Record<string, unknown>) => (app: Application) => void
interface LegacyInfo {
  ready: Promise<unknown>
  pub?: { close(): Promise<void> }
  sub?: { close(): Promise<void> }
  connection?: { close(): Promise<void> }
}

/** feathers-sync 3.1.1 configured as its README says, for `broker`. */
export function legacyPlugin(broker: Broker, key: string): (app: Application) => void {
  const uri = brokerUrl(broker)
  const legacySync = require('feathers-sync') as FeathersSync
  // Its NATS adapter connects through natsConnectionOptions, so the server must be listed there too.
  const extra = broker === 'nats' ? { natsConnectionOptions: { servers: [uri] } } : {}
  return legacySync({ uri, key, ...extra })
}

/** Closes what feathers-sync opened (it has no close of its own). */
export async function closeLegacy(app: Application): Promise<void> {
  const info = (app as unknown as { sync: LegacyInfo }).sync
  const ready = await info.ready
  if (info.pub && info.sub) await Promise.all([info.pub.close(), info.sub.close()])
  else if (info.connection) await info.connection.close()
  else await (ready as { close(): Promise<void> }).close()
}

/** A server with a `todos` service, every socket.io connection in one published channel. */
export interface SocketServer {
  app: Application
  url: string
  /** Data of each `status` event the service emitted on this server. */
  statuses: { marker?: string }[]
}

/** Starts a Koa + socket.io server; `configure` adds the sync plugin before the service exists. */
export async function startServer(configure: (app: Application) => void): Promise<SocketServer> {
  const app = koa(feathers())
  app.configure(socketio())
  app.configure(configure)
  app.use('todos', new MemoryService({ multi: true }), { events: ['status'] })
  app.on('connection', (connection) => app.channel('everyone').join(connection))
  app.publish(() => app.channel('everyone'))
  const statuses: { marker?: string }[] = []
  app.service('todos').on('status', (data: { marker?: string }) => statuses.push(data))
  const server = http.createServer(app.callback())
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port: 0, host: '127.0.0.1' }, () => resolve())
  })
  app.server = server
  await app.setup(server)
  const { port } = server.address() as AddressInfo
  return { app, url: `http://127.0.0.1:${port}`, statuses }
}

/** What a socket.io client of a server received, per event. */
export interface SocketClient {
  socket: Socket
  got: { event: string; data: Record<string, unknown> | null }[]
  /** Events named `event` whose data has `marker`. */
  seen(event: string, marker: string): Record<string, unknown>[]
}

/** Connects a real socket.io client through `@feathersjs/socketio-client` and records `todos` events. */
export async function connectClient(url: string): Promise<SocketClient> {
  const socket = io(url, { transports: ['websocket'], reconnection: false, timeout: 5_000 })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('connect_error', (error) => reject(new Error(`socket.io to ${url}: ${error.message}`)))
  })
  const got: SocketClient['got'] = []
  const todos = feathers().configure(socketioClient(socket)).service('todos')
  for (const event of ['created', 'patched', 'status']) {
    todos.on(event, (data: Record<string, unknown> | null) => got.push({ event, data }))
  }
  return {
    socket,
    got,
    seen: (event, marker) =>
      got.flatMap((g) => (g.event === event && g.data?.marker === marker ? [g.data] : []))
  }
}

/**
 * Some feathers-sync adapters resolve `ready` before their subscription is in place: `sender` emits
 * `status` probes until `receiver` has heard one, so later events cannot arrive before it listens.
 */
export async function untilHeard(sender: Application, receiver: SocketServer): Promise<void> {
  const probe = uniqueKey('probe')
  for (let attempt = 0; attempt < 50; attempt++) {
    sender.service('todos').emit('status', { marker: probe })
    try {
      await waitFor('a probe', () => receiver.statuses.some((s) => s.marker === probe), 100)
      return
    } catch {
      // Not subscribed yet: send another.
    }
  }
  throw new Error(`no probe arrived after 50 attempts (5 s); the receiver never subscribed`)
}
