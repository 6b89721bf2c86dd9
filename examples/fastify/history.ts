/**
 * The consumer: records each user's state history ONCE per change for the whole fleet, `GET
 * /users/:id/history`. Every instance subscribes with `{ group: 'history' }`, so each change is handled by
 * one of them; the store is shared (a JSON-lines file here, a table in a real app), so every instance
 * answers with the full history.
 *
 * The handler's promise is the acknowledgement: a failed write is retried, then kept as a dead letter.
 * Handling is at least once (a member killed mid-write hands the change to another one), so a real table
 * keeps `meta.idempotencyKey` in a unique column; the reader here skips repeated keys the same way.
 */
import { appendFile, readFile } from 'node:fs/promises'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'

export interface HistoryEntry {
  state: string
  at: string
  /** The change's idempotency key: publisher instance and its message number. */
  key: string
  /** The instance that wrote the entry. */
  by: string
}

export interface HistoryOptions {
  /** The fleet's shared history store: one JSON line per change. */
  file: string
}

async function readEntries(file: string): Promise<(HistoryEntry & { id: string })[]> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return ''
    throw error
  })
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as HistoryEntry & { id: string })
}

const plugin: FastifyPluginAsync<HistoryOptions> = async (fastify, { file }) => {
  fastify.fanout.subscribe(
    'user.state',
    async ({ id, state, at }, meta) => {
      const entry = { id, state, at, key: meta.idempotencyKey, by: fastify.fanout.instanceId }
      // One append per line: concurrent writers on one machine do not interleave within it.
      await appendFile(file, `${JSON.stringify(entry)}\n`)
    },
    { group: 'history', maxAttempts: 5, retryDelayMs: 200 }
  )
  fastify.fanout.on('dead-letter', ({ letter }) => {
    fastify.log.error({ id: letter.id }, 'a history entry could not be written; replay it later')
  })
  fastify.get<{ Params: { id: string } }>('/users/:id/history', async (request) => {
    const seen = new Set<string>()
    const entries = (await readEntries(file)).filter(
      (entry) => entry.id === request.params.id && !seen.has(entry.key) && seen.add(entry.key)
    )
    return {
      id: request.params.id,
      history: entries.map(({ state, at, key, by }) => ({ state, at, key, by }))
    }
  })
}

export const history = fp(plugin, { name: 'history', dependencies: ['feathers-fanout'] })
