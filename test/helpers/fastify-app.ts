/** An in-process Fastify instance with the fanout plugin registered and ready, its log lines kept. */
import Fastify, { type FastifyInstance } from 'fastify'
import { fanout, type FanoutOptions } from '../../src/fastify'

/** A line of Fastify's JSON log. */
export interface LogLine {
  level: number
  msg: string
  group?: string
}

/**
 * Starts Fastify with the plugin and `options`, and resolves once the bus is ready. `started` gets the
 * app at once, so that a test's cleanup closes it even when readiness fails.
 */
export async function loggedFanout(
  options: FanoutOptions,
  started: (app: FastifyInstance) => void
): Promise<{ app: FastifyInstance; logs: LogLine[] }> {
  const logs: LogLine[] = []
  const app = Fastify({
    logger: { level: 'info', stream: { write: (line: string) => void logs.push(JSON.parse(line)) } }
  })
  started(app)
  await app.register(fanout, options)
  await app.ready()
  await app.fanout.ready
  return { app, logs }
}
