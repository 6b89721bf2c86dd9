/**
 * One Fastify instance with the fanout plugin, in a process of its own (forked by
 * test/helpers/fastify-fleet.ts). Options come from FANOUT_FASTIFY_OPTIONS (JSON). It records every
 * `fleet.tick` it gets and answers over HTTP: POST /publish { marker, count, topic? }, GET /seen?marker=, GET /count?marker=,
 * GET /info. With FANOUT_FASTIFY_GROUP (JSON `{ group, workMs?, ...group options }`) it also handles
 * `fleet.tick` in that consumer group, each message taking `workMs`, and answers GET /handled?marker= and
 * GET /groups. Ready is reported over IPC with its port and instance id; SIGTERM closes Fastify (and so
 * the bus) before exiting.
 */
import Fastify from 'fastify'
import { fanout, type FanoutGroupOptions, type FanoutOptions } from '../../src/fastify'
import type { SeenTick, Tick } from './fastify-topics'

async function main(): Promise<void> {
  const options = JSON.parse(process.env.FANOUT_FASTIFY_OPTIONS ?? '{}') as FanoutOptions
  const app = Fastify()
  await app.register(fanout, options)
  const seen: SeenTick[] = []
  const errors: string[] = []
  app.fanout.on('error', (error) => errors.push(`${error.code}: ${error.message}`))
  app.fanout.subscribe('fleet.tick', (data, { sender, id, own, position }) => {
    seen.push({ ...data, sender, id, own, ...(position === undefined ? {} : { position }) })
  })

  const handled: SeenTick[] = []
  if (process.env.FANOUT_FASTIFY_GROUP) {
    const { workMs = 0, ...group } = JSON.parse(process.env.FANOUT_FASTIFY_GROUP) as FanoutGroupOptions & {
      workMs?: number
    }
    app.fanout.subscribe(
      'fleet.tick',
      async (data, { sender, id, own, position }) => {
        // Stands for the handler's own work (a database write), so that one member cannot take it all.
        if (workMs > 0) await new Promise((resolve) => setTimeout(resolve, workMs))
        handled.push({ ...data, sender, id, own, ...(position === undefined ? {} : { position }) })
      },
      group
    )
  }
  app.get<{ Querystring: { marker: string } }>('/handled', async (request) =>
    handled.filter((tick) => tick.marker === request.query.marker)
  )
  app.get('/groups', async () => app.fanout.groupStats())

  app.post<{ Body: { marker: string; count: number; topic?: 'fleet.tick' | 'fleet.other' } }>(
    '/publish',
    async (request) => {
      const { marker, count, topic = 'fleet.tick' } = request.body
      let published = 0
      for (let n = 0; n < count; n++) {
        const tick: Tick = { marker, n }
        if (app.fanout.publish(topic, tick)) published++
      }
      return { published }
    }
  )
  app.get<{ Querystring: { marker: string } }>('/seen', async (request) =>
    seen.filter((tick) => tick.marker === request.query.marker)
  )
  app.get<{ Querystring: { marker: string } }>('/count', async (request) => ({
    count: seen.filter((tick) => tick.marker === request.query.marker).length
  }))
  app.get('/info', async () => ({
    instanceId: app.fanout.instanceId,
    status: app.fanout.status,
    stats: app.fanout.stats(),
    errors
  }))

  await app.listen({ host: '127.0.0.1', port: 0 })
  await app.fanout.ready
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  process.send?.({ ready: true, port, instanceId: app.fanout.instanceId })

  process.once('SIGTERM', () => {
    void app.close().then(() => process.exit(0))
  })
}

main().catch((error: unknown) => {
  process.send?.({ ready: false, message: String(error) })
  process.exit(1)
})
