/**
 * The consumer: records each user's state history, `GET /users/:id/history`. Kept in memory here; a real
 * app writes a table row.
 *
 * Every instance runs this handler, so with three instances each keeps its own full copy (fine for a
 * cache, wrong for a database row written three times). Writing it once per fleet needs consumer groups:
 * the same handler subscribed with `{ group: 'history' }` as a third argument, once that lands. The key
 * `${meta.sender}:${meta.id}` is already the idempotency key such a writer stores with the row.
 */
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'

export interface HistoryEntry {
  state: string
  at: string
  /** The message's stable key: publisher instance and its message number. */
  key: string
}

export const history: FastifyPluginAsync = fp(
  async (fastify) => {
    const byUser = new Map<string, HistoryEntry[]>()
    const written = new Set<string>()
    fastify.fanout.subscribe('user.state', ({ id, state, at }, meta) => {
      const key = `${meta.sender}:${meta.id}`
      // A durable log may redeliver after a reconnect; the key makes the write idempotent.
      if (written.has(key)) return
      written.add(key)
      const entries = byUser.get(id) ?? []
      entries.push({ state, at, key })
      byUser.set(id, entries)
    })
    fastify.get<{ Params: { id: string } }>('/users/:id/history', async (request) => ({
      id: request.params.id,
      history: byUser.get(request.params.id) ?? []
    }))
  },
  { name: 'history', dependencies: ['feathers-fanout'] }
)
