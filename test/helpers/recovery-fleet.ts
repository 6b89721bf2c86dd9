/**
 * Feathers servers (Koa + socket.io) with client recovery on, and Feathers socket.io clients with the
 * recovery plugin. Real Feathers authentication: a `users` service (each user has a room), JWT + local
 * strategies with one secret on every instance, and the standard channel setup: a connection is
 * anonymous until it logs in, then joins its user's room; `messages` events are published to the channel
 * of the record's room only. Clients log in with email and password; after a reconnect the
 * authentication client re-authenticates with its stored JWT.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { feathers, type Application, type HookContext } from '@feathersjs/feathers'
import { koa } from '@feathersjs/koa'
import { MemoryService } from '@feathersjs/memory'
import socketio from '@feathersjs/socketio'
import socketioClient from '@feathersjs/socketio-client'
import { io, type Socket } from 'socket.io-client'
import { SYNC, sync, type SyncError, type SyncOptions } from '../../src/index'
import { positionOf } from '../../src/feathers/context'
import { recovery, type ClientRecoveryOptions, type RecoveryGap } from '../../src/client'
import { authenticationFor, configureAuthentication, login } from './recovery-auth'

export interface Message {
  room: string
  n: number
  secret?: string
  local?: boolean
}

export interface RecoveryServer {
  app: Application
  port: number
  /** Every `messages` event this instance emitted, with its log position, in order. */
  log: { event: string; data: Message; position: string | undefined }[]
  errors: SyncError[]
}

export async function startRecoveryServer(options: SyncOptions): Promise<RecoveryServer> {
  const app = koa(feathers())
  const errors: SyncError[] = []
  app.on('sync-error', (error: SyncError) => errors.push(error))
  app.configure(socketio())
  app.configure(sync(options))
  await configureAuthentication(app)
  app.use('messages', new MemoryService({ multi: true }), { events: ['status'] })
  app.service('messages').hooks({
    before: {
      create: [
        (context: HookContext) => {
          if ((context.data as Message).local) (context as unknown as Record<symbol, unknown>)[SYNC] = false
        }
      ]
    },
    after: {
      // What resolvers do: the safe data clients get, without the secret.
      create: [
        (context: HookContext) => {
          const { secret: _secret, ...safe } = context.result as Message
          context.dispatch = safe
        }
      ]
    }
  })
  app.service('messages').publish((data: Message) => app.channel(`room/${data.room}`))
  const log: RecoveryServer['log'] = []
  for (const event of ['created', 'status']) {
    app
      .service('messages')
      .on(event, (data: Message, context: unknown) =>
        log.push({ event, data, position: positionOf(context) })
      )
  }
  const server = http.createServer(app.callback())
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, () => resolve()))
  app.server = server
  await app.setup(server)
  return { app, port: (server.address() as AddressInfo).port, log, errors }
}

export interface RecoveringClient {
  socket: Socket
  app: Application & { recovery: { position: string | undefined; replayed: number } }
  /** Every `messages` event received, in order. */
  got: { event: string; data: Message }[]
  gaps: RecoveryGap[]
  answers: number
  /** What the plugin reported as `recovery-error`. */
  errors: unknown[]
}

/**
 * A Feathers client with the authentication client and the recovery plugin; reconnects by itself (fast).
 * Logs in as `email` when given (otherwise it stays anonymous until the test logs it in). The plugin's
 * options default to its own (it asks once re-authentication settles).
 */
export function connectRecovering(
  url: string,
  email: string | undefined,
  plugin: ClientRecoveryOptions = {}
): RecoveringClient {
  const socket = io(url, {
    transports: ['websocket'],
    reconnectionDelay: 100,
    reconnectionDelayMax: 300,
    timeout: 5_000
  })
  const app = feathers()
    .configure(socketioClient(socket))
    .configure(authenticationFor())
    .configure(recovery(plugin)) as RecoveringClient['app']
  const client: RecoveringClient = { socket, app, got: [], gaps: [], answers: 0, errors: [] }
  for (const event of ['created', 'status']) {
    app.service('messages').on(event, (data: Message) => client.got.push({ event, data }))
  }
  app.on('recovery-gap', (gap: RecoveryGap) => client.gaps.push(gap))
  app.on('recovered', () => client.answers++)
  app.on('recovery-error', (error: unknown) => client.errors.push(error))
  if (email !== undefined) login(app, email).catch((error: unknown) => client.errors.push(error))
  return client
}
