/**
 * One member of the group proof, in its own process: a Feathers app synced in durable mode (Redis or
 * NATS), with one consumer group handler on `todos created`. The handler's side effects are written to
 * a Redis, like an app writing a row, so the books survive a SIGKILL of this process: the numbers it
 * started (`{key}:started:<index>`), and each completed handling with its delivery count
 * (`{key}:handled:<index>`, "n:deliveries:attempt:time:token", the time in ms since the epoch, and a
 * token per handling: ioredis resends a write in flight when the books' Redis restarts, so one handling
 * can land twice, and the token tells such a copy from a second handling).
 */
import { randomBytes } from 'node:crypto'
import { feathers } from '@feathersjs/feathers'
import { Redis } from 'ioredis'
import { MemoryService } from '@feathersjs/memory'
import { sync } from '../../src/index'
import { MEMBER_ENV, type MemberConfig, type MemberReport } from './protocol'

const config = JSON.parse(process.env[MEMBER_ENV] ?? '{}') as MemberConfig
const send = (report: MemberReport): void => void process.send?.(report)
process.on('uncaughtException', (error) => send({ kind: 'problem', text: `uncaught: ${error.stack}` }))
process.on('unhandledRejection', (reason) => send({ kind: 'problem', text: `unhandled: ${String(reason)}` }))

const books = new Redis(config.booksUri, { maxRetriesPerRequest: 1 })
books.on('error', () => undefined)

const app = feathers()
app.configure(sync({ ...config.sync, uri: config.uri, key: config.key, durable: true }))
app.use('todos', new MemoryService())
app.on('sync-error', (error: Error) => send({ kind: 'problem', text: `sync-error: ${error.message}` }))
const work = (ms: number) =>
  new Promise((resolve) => (ms > 0 ? setTimeout(resolve, ms) : setImmediate(resolve)))
app.sync.consume<{ n: number }>(
  'proof',
  'todos',
  'created',
  async ({ n }, meta) => {
    try {
      await books.sadd(`{${config.key}}:started:${config.index}`, n)
      await work(config.workBelow === undefined || n < config.workBelow ? config.workMs : 0)
      await books.rpush(
        `{${config.key}}:handled:${config.index}`,
        `${n}:${meta.deliveries}:${meta.attempt}:${Date.now()}:${randomBytes(6).toString('hex')}`
      )
    } catch (error) {
      // The group runs the handler again (the next attempt); said, since a write whose reply alone was
      // lost leaves the event in the books twice.
      const text = `books write for ${n} failed on attempt ${meta.attempt}: ${(error as Error).message}`
      send({ kind: 'problem', text })
      throw error
    }
  },
  { prefetch: config.prefetch, claimAfterMs: config.claimAfterMs }
)

send({ kind: 'stage', text: 'configured' })
void (async () => {
  await app.sync.ready
  send({ kind: 'stage', text: 'synced, joining the group' })
  // Joined once the group's stats say so (bounded: the parent times out on `ready`).
  for (let i = 0; i < 1_000; i++) {
    const [stats] = await app.sync.groupStats()
    if (stats?.joined) break
    await work(10)
  }
  send({ kind: 'ready', instanceId: app.sync.instanceId })
})()
process.on('message', (message: unknown) => {
  if (message === 'stats')
    void app.sync
      .groupStats()
      .then((stats) => send({ kind: 'stats', text: `status ${app.sync.status}, ${JSON.stringify(stats)}` }))
  if (message === 'close')
    void app
      .teardown()
      .then(() => books.quit())
      .then(() => process.exit(0))
})
