/**
 * Durable publishes on Redis run a script by its digest (`EVALSHA`, adapters/redis/append.ts). Redis
 * forgets scripts (`SCRIPT FLUSH`, a restart, a promoted replica): each publish is still stored once and
 * in its sender's order. Each test has its own redis-server, since flushing scripts touches every client.
 */
import { Redis } from 'ioredis'
import { Appender, APPEND_SCRIPT } from '../adapters/redis/append'
import { parseDurable } from '../adapters/redis/retention'
import { parseOptions } from '../src/engine/options'
import { startRedis, type BrokerHandle } from './brokers'
import { createFleet, teardownFleet, uniqueKey, waitFor, type TestApp } from './helpers/apps'

let broker: BrokerHandle | undefined
let raw: Redis | undefined
let fleet: TestApp[] = []

afterEach(async () => {
  await teardownFleet(fleet)
  fleet = []
  raw?.disconnect()
  raw = undefined
  await broker?.stop()
  broker = undefined
})

async function start(): Promise<Redis> {
  broker = await startRedis()
  raw = new Redis(broker.url, { lazyConnect: true })
  await raw.connect()
  return raw
}

const storedTexts = async (client: Redis, stream: string) =>
  (await client.xrange(stream, '-', '+')).map(([, fields]) => fields[1])

describe('redis durable publishes after Redis forgot the script', () => {
  it('refuses a publish whose predecessor was not stored, so nothing overtakes a NOSCRIPT', async () => {
    const client = await start()
    const key = uniqueKey('out-of-step')
    const durable = parseDurable(key, parseOptions({ uri: broker?.url, key, durable: true }).durable)
    if (durable === undefined) throw new Error('durable settings expected')
    const appender = new Appender(durable)
    await client.script('LOAD', APPEND_SCRIPT)
    await appender.append(client, 'm1', 'p-1')
    await client.script('FLUSH')
    await expect(appender.append(client, 'm2', 'p-2')).rejects.toThrow(/^NOSCRIPT/)
    // Another instance loads the script before this one's next publish (in flight behind `p-2`) runs.
    await client.script('LOAD', APPEND_SCRIPT)
    await expect(appender.append(client, 'm3', 'p-3')).rejects.toThrow(/^OUTOFSTEP/)
    expect(await storedTexts(client, durable.stream)).toEqual(['m1'])
    // Resent in order after a restart of the chain: each once.
    appender.restart()
    await appender.append(client, 'm2', 'p-2')
    await appender.append(client, 'm3', 'p-3')
    expect(await appender.append(client, 'm3', 'p-3')).not.toBeNull()
    expect(await appender.append(client, 'm2', 'p-2')).toBeNull()
    expect(await storedTexts(client, durable.stream)).toEqual(['m1', 'm2', 'm3'])
  })

  it('delivers every event once and in order when the script cache is flushed mid-stream', async () => {
    const client = await start()
    const key = uniqueKey('script-flush')
    fleet = await createFleet(2, { uri: broker?.url, key, durable: true, errorReportIntervalMs: 0 })
    const [sender, receiver] = fleet
    const todos = sender.app.service('todos')
    const total = 600
    const created: Promise<unknown>[] = []
    for (let i = 0; i < total / 2; i++) created.push(todos.create({ marker: 'flush', i }))
    await client.script('FLUSH')
    for (let i = total / 2; i < total; i++) created.push(todos.create({ marker: 'flush', i }))
    await Promise.all(created)
    const state = () => {
      const stats = sender.app.sync.stats()
      return (
        `receiver has ${receiver.seen('created', 'flush').length} of ${total}; sender status ` +
        `${sender.app.sync.status}, publishErrors ${stats.publishErrors}, reconnects ${stats.reconnects}, ` +
        `outbox ${stats.outbox.messages}, ${sender.errors.length} errors (last: ${sender.errors.at(-1)?.message})`
      )
    }
    await waitFor(state, () => receiver.seen('created', 'flush').length >= total, 20_000)
    const order = receiver.seen('created', 'flush').map(({ data }) => data.i)
    expect(order).toEqual(Array.from({ length: total }, (_, i) => i))
    expect(sender.app.sync.stats().publishErrors).toBe(0)
    // The stream holds each once: a resend after the refusal was not stored again.
    const stream = `{${key}}:log`
    expect(await client.xlen(stream)).toBe(total)
    // The publish right after the flush met NOSCRIPT: publishing stopped and resumed.
    expect(sender.app.sync.stats().reconnects).toBeGreaterThanOrEqual(1)
  }, 30_000)
})
