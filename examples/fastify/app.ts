/**
 * One instance of the example: the fanout plugin, the publisher routes, the history consumer and the
 * live stream. Every instance of the fleet runs the same app.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import { fanout } from '../../src/fastify'
import { history } from './history'
import { live } from './live'
import './topics'
import { users } from './users'

export interface ExampleOptions {
  /** Broker, e.g. `redis://127.0.0.1:6379`. */
  uri: string
  /** Channel the fleet shares. */
  key?: string
  /** Durable delivery: an instance that reconnects gets what it missed. */
  durable?: boolean
}

export async function buildApp(options: ExampleOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: { level: 'warn' } })
  await app.register(fanout, { uri: options.uri, key: options.key, durable: options.durable })
  await app.register(history)
  await app.register(live)
  await app.register(users)
  return app
}
