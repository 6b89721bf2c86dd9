/**
 * Live updates: `GET /live` is a server-sent event stream; every user state change published anywhere in
 * the fleet is pushed to this instance's clients as an `user.state` event.
 */
import type { ServerResponse } from 'node:http'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'

export const live: FastifyPluginAsync = fp(
  async (fastify) => {
    const clients = new Set<ServerResponse>()
    fastify.fanout.subscribe('user.state', (change, meta) => {
      const frame = `event: user.state\nid: ${meta.sender}:${meta.id}\ndata: ${JSON.stringify(change)}\n\n`
      for (const client of clients) client.write(frame)
    })
    fastify.get('/live', (request, reply) => {
      reply.hijack()
      reply.raw.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive'
      })
      reply.raw.write(': connected\n\n')
      clients.add(reply.raw)
      request.raw.once('close', () => clients.delete(reply.raw))
    })
    // Open streams would keep fastify.close() waiting; end them first.
    fastify.addHook('preClose', async () => {
      for (const client of clients) client.end()
      clients.clear()
    })
  },
  { name: 'live', dependencies: ['feathers-fanout'] }
)
