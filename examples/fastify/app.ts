/**
 * One instance of the example: the fanout plugin, the publisher routes, the history consumer (a consumer
 * group: each change written once per fleet) and the live stream (every instance's clients). Every instance of the fleet runs the same app.
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
  /** The fleet's shared history store (a JSON-lines file). */
  historyFile: string
}

export async function buildApp(options: ExampleOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: { level: 'warn' } })
  // Durable: the history consumer group reads the broker's log (a Redis stream, a JetStream stream).
  await app.register(fanout, { uri: options.uri, key: options.key, durable: true })
  await app.register(history, { file: options.historyFile })
  await app.register(live)
  await app.register(users)
  return app
}
