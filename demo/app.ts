import http, { type Server } from 'node:http'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { feathers, type HookContext } from '@feathersjs/feathers'
import { bodyParser, errorHandler, koa, rest, serveStatic, type Application } from '@feathersjs/koa'
import { MemoryService } from '@feathersjs/memory'
import socketio from '@feathersjs/socketio'
import { BadRequest } from '@feathersjs/errors'
import { sync } from '../src/index'

/** A chat message as the `messages` service stores and emits it. */
export interface Message {
  id: number
  text: string
  /** Which instance handled the `create` call. */
  instance: number
  /**
   * When that instance stored it (ms since the epoch, with a fraction), so the receivers can tell how
   * long it took to arrive. The instances share the machine's clock.
   */
  createdAt: number
}

export interface InstanceInfo {
  instance: number
  instances: number
  port: number
  /** Port of instance 1 when the ports are consecutive, so a page can link to the others. */
  basePort: number
  transport: string
  /** The adapter `app.sync` runs (`cluster`, `redis`, …) and the key that names the channel. */
  adapter: string
  key: string
  pid: number
  /** The dashboard's URL (served by the demo's primary); empty when the demo runs without one. */
  dashboard: string
}

export interface DemoAppOptions {
  instance: number
  instances: number
  basePort: number
  /** Sync URI, e.g. `cluster://` or `redis://127.0.0.1:6379`. */
  uri: string
  /** URI without credentials, shown on the page. */
  transport: string
  /** The dashboard's URL, for a link on the instance's page. */
  dashboard: string
  /** Durable delivery and client recovery on (`--recovery`). */
  recovery?: boolean
}

/** The key of the demo's channel: every instance, and the junk flood, use it. */
export const DEMO_KEY = 'feathers-fanout-demo'

const MAX_TEXT = 500
/**
 * Most events one replay gives a client (`recovery.maxEvents`): a client page away during a burst of
 * 1,000 is told about the gap.
 */
const RECOVERY_MAX_EVENTS = 500
const KEEP_MESSAGES = 200

/** The chat app of one instance: `messages` over REST and websockets, synced with feathers-fanout. */
export function createDemoApp(options: DemoAppOptions): Application {
  const app = koa(feathers())

  app.use(errorHandler())
  app.use(serveStatic(path.join(__dirname, 'public')))
  app.use(bodyParser())
  app.configure(rest())
  app.configure(socketio())
  const recovery = options.recovery && { durable: true, recovery: { maxEvents: RECOVERY_MAX_EVENTS } }
  app.configure(sync({ uri: options.uri, key: DEMO_KEY, ...recovery }))

  app.use('messages', new MemoryService<Message>({ paginate: { default: 50, max: 100 } }))
  app.service('messages').hooks({
    before: {
      create: [
        (context: HookContext) => {
          const text = typeof context.data?.text === 'string' ? context.data.text.trim() : ''
          if (text === '' || text.length > MAX_TEXT)
            throw new BadRequest(`text must be 1 to ${MAX_TEXT} characters`)
          context.data = {
            text,
            instance: options.instance,
            createdAt: performance.timeOrigin + performance.now()
          }
        }
      ]
    },
    after: {
      create: [
        // Each instance keeps only its own recent messages: the demo is about events, not storage.
        async (context: HookContext) => {
          const store = context.service as MemoryService<Message>
          const old = Object.keys(store.store).slice(0, -KEEP_MESSAGES)
          for (const id of old) delete store.store[Number(id)]
        }
      ]
    }
  })
  app.use('instance', {
    async find(): Promise<InstanceInfo> {
      const { instance, instances, basePort, transport, dashboard } = options
      const address = app.server?.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      const adapter = app.sync.type
      return {
        instance,
        instances,
        port,
        basePort,
        transport,
        adapter,
        key: DEMO_KEY,
        pid: process.pid,
        dashboard
      }
    }
  })

  // Every websocket client hears every message, whichever instance it was created on.
  app.on('connection', (connection) => app.channel('everybody').join(connection))
  app.publish(() => app.channel('everybody'))

  return app
}

/**
 * Listens on `host:port`, then sets the app up on that server. A port that is taken rejects here
 * instead of surfacing later as an unhandled 'error' event.
 */
export async function listen(app: Application, port: number, host: string): Promise<Server> {
  const server = http.createServer(app.callback())
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    // exclusive: each instance binds its own port. Shared cluster handles would put every
    // instance asked for port 0 on one random port, served round-robin.
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', reject)
      resolve()
    })
  })
  app.server = server
  await app.setup(server)
  return server
}
