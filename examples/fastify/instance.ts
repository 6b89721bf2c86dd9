/**
 * One instance process, forked by index.ts. Reports its port to the launcher once it listens, its bus is
 * ready and it is a member of the history group; closes gracefully on SIGTERM.
 */
import type { FastifyInstance } from 'fastify'
import { buildApp } from './app'

const JOIN_TIMEOUT_MS = 30_000

/**
 * A new consumer group starts at the tail of the log: changes published before its first member joined
 * are not the group's. Waiting here means the first change posted after "Ready" is written.
 */
async function joined(app: FastifyInstance, group: string): Promise<void> {
  const deadline = Date.now() + JOIN_TIMEOUT_MS
  while (!(await app.fanout.groupStats()).some((stats) => stats.group === group && stats.joined)) {
    if (Date.now() > deadline) throw new Error(`Not a member of group "${group}" after ${JOIN_TIMEOUT_MS} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function main(): Promise<void> {
  const app = await buildApp({
    uri: process.env.EXAMPLE_URI as string,
    key: process.env.EXAMPLE_KEY || undefined,
    historyFile: process.env.EXAMPLE_HISTORY as string
  })
  await app.listen({ host: '127.0.0.1', port: Number(process.env.EXAMPLE_PORT) })
  await app.fanout.ready
  await joined(app, 'history')
  const address = app.server.address()
  process.send?.({ port: typeof address === 'object' && address !== null ? address.port : 0 })
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)))
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
