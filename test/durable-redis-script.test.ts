/**
 * Durable publishes on Redis run a script by its digest (`EVALSHA`, adapters/redis/append.ts). Redis
 * forgets scripts (`SCRIPT FLUSH`, a restart, a promoted replica): each publish is still stored once and
 * in its sender's order. Each test has its own redis-server, since flushing scripts touches every client.
 */
import { Redis } from 'ioredis'
import { Appender, APPEND_SCRIPT } from '../adapters/redis/append'
import { parseDurable } from '../adapters/redis/retention'
import { parseOptions } from '../src/engine/options'
import { redisCommand, startRedis, startRedisCluster, type BrokerHandle } from './brokers'
import type { SyncOptions } from '../src/index'
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

/** 600 events from one app to another, the script cache flushed (by `flush`) after the first half. */
async function flushMidStream(
  options: SyncOptions,
  flush: () => Promise<unknown>,
  stream: string,
  count: (stream: string) => Promise<number>
) {
  fleet = await createFleet(2, { ...options, durable: true, errorReportIntervalMs: 0 })
  const [sender, receiver] = fleet
  const todos = sender.app.service('todos')
  const total = 600
  const created: Promise<unknown>[] = []
  for (let i = 0; i < total / 2; i++) created.push(todos.create({ marker: 'flush', i }))
  await flush()
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
  expect(await count(stream)).toBe(total)
  // The publish right after the flush met NOSCRIPT: publishing stopped and resumed.
  expect(sender.app.sync.stats().reconnects).toBeGreaterThanOrEqual(1)
  // Reported as what it was, not as a lost connection.
  const messages = sender.errors.map((error) => error.message)
  expect(messages).toContainEqual(expect.stringMatching(/paused: the server no longer has the append script/))
  expect(messages.filter((text) => /Lost the connection/.test(text))).toEqual([])
}

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
    await flushMidStream(
      { uri: broker?.url, key },
      () => client.script('FLUSH'),
      `{${key}}:log`,
      (stream) => client.xlen(stream)
    )
  }, 30_000)

  it('does the same on a Redis Cluster, every master flushed', async () => {
    const cluster = await startRedisCluster()
    try {
      const key = uniqueKey('cluster-flush')
      const ports = cluster.nodes.map(({ port }) => port)
      const flushAll = () => Promise.all(ports.map((port) => redisCommand(port, ['SCRIPT', 'FLUSH'])))
      // XLEN on every node: the one holding the stream answers, the others redirect (an error reply).
      const count = async (stream: string) => {
        const replies = await Promise.all(
          ports.map((port) => redisCommand(port, ['XLEN', stream]).catch(() => ''))
        )
        return Math.max(...replies.map((reply) => Number.parseInt(reply, 10)).filter(Number.isFinite))
      }
      await flushMidStream({ clusterNodes: cluster.nodes, key }, flushAll, `{${key}}:log`, count)
    } finally {
      await teardownFleet(fleet)
      fleet = []
      await cluster.stop()
    }
  }, 90_000)
})
