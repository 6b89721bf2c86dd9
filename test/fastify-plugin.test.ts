/**
 * The Fastify plugin in one process: registration in Fastify's conventions (typed errors for bad options,
 * once per instance, closed in onClose), delivery to topic handlers with their meta, failing handlers
 * reported, and what it refuses. Multi-process delivery on real brokers is in test/fastify-fleet.test.ts.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { memoryBus } from '../adapters/memory'
import { createBus } from '../src/bus'
import { SyncConfigError, type SyncError } from '../src/errors'
import { fanout, type FanoutOptions } from '../src/fastify'
import { redisCommand } from './brokers'
import { uniqueKey, waitFor } from './helpers/apps'
import { loggedFanout } from './helpers/fastify-app'
import type { SeenTick } from './helpers/fastify-topics'

interface Member {
  app: FastifyInstance
  seen: SeenTick[]
  errors: SyncError[]
  logs: { level: number; msg: string }[]
}

let apps: FastifyInstance[] = []

async function member(options: FanoutOptions): Promise<Member> {
  const { app, logs } = await loggedFanout(options, (started) => apps.push(started))
  const seen: SeenTick[] = []
  const errors: SyncError[] = []
  app.fanout.on('error', (error) => errors.push(error))
  app.fanout.subscribe('fleet.tick', (data, { sender, id, own, position }) => {
    seen.push({ ...data, sender, id, own, ...(position === undefined ? {} : { position }) })
  })
  return { app, seen, errors, logs }
}

const memory = (key: string): FanoutOptions => ({ uri: 'memory://fastify-plugin', key })

/** Registers the plugin with `options` and returns what `ready()` rejected with. */
async function registrationError(options: unknown): Promise<unknown> {
  const app = Fastify()
  apps.push(app)
  // Not awaited: awaiting `register` would load the plugin and throw here.
  void app.register(fanout, options as FanoutOptions)
  return app.ready().then(
    () => undefined,
    (error: unknown) => error
  )
}

afterEach(async () => {
  await Promise.all(apps.map((app) => app.close()))
  apps = []
})

describe('the Fastify plugin', () => {
  it('decorates the instance, and hands each message to every instance’s handlers with its meta', async () => {
    const key = uniqueKey('fastify-basic')
    const [a, b] = [await member(memory(key)), await member(memory(key))]
    expect(a.app.fanout.type).toBe('memory')
    expect(a.app.fanout.status).toBe('ready')
    expect(a.app.fanout.publish('fleet.tick', { marker: 'm', n: 0 })).toBe(true)
    // local-first: the publisher's handler ran inside publish().
    expect(a.seen).toEqual([{ marker: 'm', n: 0, sender: a.app.fanout.instanceId, id: 1, own: true }])
    await waitFor('the tick at b', () => b.seen.length === 1)
    expect(b.seen).toEqual([{ marker: 'm', n: 0, sender: a.app.fanout.instanceId, id: 1, own: false }])
    expect(a.app.fanout.stats()).toMatchObject({ published: 1, delivered: 0 })
    expect(b.app.fanout.stats()).toMatchObject({ received: 1, delivered: 1 })
  })

  it('with emitOrder "broker", hands the publisher its own message when the broker does', async () => {
    const key = uniqueKey('fastify-broker')
    const a = await member({ ...memory(key), emitOrder: 'broker' })
    a.app.fanout.publish('fleet.tick', { marker: 'm', n: 0 })
    expect(a.seen).toEqual([])
    await waitFor('the echo', () => a.seen.length === 1)
    expect(a.seen[0]).toMatchObject({ own: true, sender: a.app.fanout.instanceId })
  })

  it('stops calling a handler once unsubscribed, and calls the same function twice if subscribed twice', async () => {
    const key = uniqueKey('fastify-unsub')
    const [a, b] = [await member(memory(key)), await member(memory(key))]
    const calls: number[] = []
    const handler = (data: { n: number }) => void calls.push(data.n)
    const first = b.app.fanout.subscribe('fleet.tick', handler)
    b.app.fanout.subscribe('fleet.tick', handler)
    a.app.fanout.publish('fleet.tick', { marker: 'm', n: 1 })
    await waitFor('the first tick', () => b.seen.length === 1)
    first()
    a.app.fanout.publish('fleet.tick', { marker: 'm', n: 2 })
    await waitFor('the second tick', () => b.seen.length === 2)
    expect(calls).toEqual([1, 1, 2])
  })

  it('reports a handler that throws or rejects, logs it, and keeps calling the others', async () => {
    const key = uniqueKey('fastify-failing')
    // Every report on its own, not summarised: this test counts them.
    const options = { ...memory(key), errorReportIntervalMs: 0 }
    const [a, b] = [await member(options), await member(options)]
    b.app.fanout.subscribe('fleet.tick', () => {
      throw new Error('sync failure')
    })
    b.app.fanout.subscribe('fleet.tick', async () => {
      throw new Error('async failure')
    })
    a.app.fanout.publish('fleet.tick', { marker: 'm', n: 0 })
    a.app.fanout.publish('fleet.tick', { marker: 'm', n: 1 })
    await waitFor('four failures reported', () => b.errors.length === 4)
    expect(b.seen.map((tick) => tick.n)).toEqual([0, 1])
    expect(b.errors.map((error) => error.code)).toEqual(Array(4).fill('SYNC_DELIVERY'))
    expect(b.errors[0].message).toBe('A handler of topic "fleet.tick" failed on a message')
    expect(b.errors.map((error) => (error.cause as Error).message).sort()).toEqual([
      'async failure',
      'async failure',
      'sync failure',
      'sync failure'
    ])
    const warnings = b.logs.filter((line) => line.level === 40 && /fanout: A handler/.test(line.msg))
    expect(warnings).toHaveLength(4)
  })

  it('drops a message too large to travel: publish says false, no handler gets it, the error names the topic', async () => {
    const key = uniqueKey('fastify-oversize')
    const a = await member({ ...memory(key), maxMessageBytes: 1_024 })
    expect(a.app.fanout.publish('fleet.tick', { marker: 'x'.repeat(2_000), n: 0 })).toBe(false)
    expect(a.seen).toEqual([])
    expect(a.app.fanout.stats()).toMatchObject({ published: 0, dropped: { oversize: 1 } })
    expect(a.errors.map((error) => error.message)).toEqual([
      expect.stringMatching(/^topic "fleet.tick" is \d+ bytes, over the limit of 1024 bytes$/)
    ])
  })

  it('counts the service events of Feathers apps on the same channel, without calling handlers', async () => {
    const key = uniqueKey('fastify-shared')
    const a = await member(memory(key))
    const feathersLike = createBus(memory(key))
    await feathersLike.ready
    feathersLike.publish({ event: 'fleet.tick', path: 'todos', data: { marker: 'm', n: 0 }, context: null })
    await waitFor('the service event to arrive', () => a.app.fanout.stats().received === 1)
    await feathersLike.close()
    expect(a.seen).toEqual([])
    expect(a.app.fanout.stats().dropped.unknownPath).toBe(1)
    expect(a.errors).toEqual([])
  })

  it('with secrets, delivers only to instances that share the secret', async () => {
    const key = uniqueKey('fastify-signed')
    const secret = 'fastify-plugin-secret-of-32-bytes!!'
    const [a, b] = [
      await member({ ...memory(key), secrets: [secret] }),
      await member({ ...memory(key), secrets: [secret] })
    ]
    const stranger = await member({ ...memory(key), secrets: ['another-secret-that-is-32-bytes-long'] })
    a.app.fanout.publish('fleet.tick', { marker: 'm', n: 0 })
    await waitFor('the signed tick', () => b.seen.length === 1)
    await waitFor(
      'the stranger to refuse it',
      () => stranger.app.fanout.stats().dropped.unauthenticated === 1
    )
    expect(stranger.seen).toEqual([])
  })

  it('refuses an empty topic and a handler that is not a function, naming them', async () => {
    const a = await member(memory(uniqueKey('fastify-args')))
    expect(() => a.app.fanout.publish('' as 'fleet.tick', { marker: 'm', n: 0 })).toThrow(
      expect.objectContaining({ name: 'SyncConfigError', option: 'topic' })
    )
    expect(() => a.app.fanout.subscribe('fleet.tick', 'nope' as never)).toThrow(
      expect.objectContaining({ name: 'SyncConfigError', option: 'handler' })
    )
  })
})

/** An adapter with plain pub/sub only, for the case of `durable` on an adapter that cannot keep messages. */
const broadcastOnly = {
  type: 'broadcast-only',
  target: 'nowhere',
  connect: async () => undefined,
  subscribe: async () => undefined,
  publish: () => undefined,
  close: async () => undefined
}

describe('registering the Fastify plugin', () => {
  it('fails a bad option at register time with a SyncConfigError naming it', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ urii: 'memory://x' }, 'urii', /did you mean "uri"/],
      [{ uri: 'memory://x', emitOrder: 'sometimes' }, 'emitOrder', /'local-first' or 'broker'/],
      [{ uri: 'memory://x', includeResult: false }, 'includeResult', /Feathers binding/],
      [{ uri: 'memory://x', echo: true }, 'echo', /emitOrder: 'broker'/],
      [{ uri: 'memory://x', durable: { maxAgeMs: '1d' } }, 'durable.maxAgeMs', /number/],
      [{ adapter: broadcastOnly, durable: true }, 'durable', /adapter that keeps messages/],
      [{}, 'uri', /required/],
      [{ uri: 'nope://x' }, 'uri', /nope/]
    ]
    for (const [options, option, message] of cases) {
      const error = await registrationError(options)
      expect(error).toBeInstanceOf(SyncConfigError)
      expect(error).toMatchObject({ option, message: expect.stringMatching(message) })
    }
  })

  it('accepts Fastify’s own register options beside its own', async () => {
    const app = Fastify()
    apps.push(app)
    await app.register(fanout, { ...memory(uniqueKey('fastify-register')), prefix: '/x', logLevel: 'warn' })
    await app.ready()
    await expect(app.fanout.ready).resolves.toBeUndefined()
  })

  it('refuses a second registration on the same instance, and closes the first bus with the instance', async () => {
    const app = Fastify()
    apps.push(app)
    const key = uniqueKey('fastify-twice')
    await app.register(fanout, memory(key))
    app.register(fanout, memory(key))
    const error = await app.ready().then(
      () => undefined,
      (reason: unknown) => reason
    )
    expect(error).toBeInstanceOf(SyncConfigError)
    expect(error).toMatchObject({ option: 'fanout', message: expect.stringMatching(/registered .* already/) })
    await app.close()
    expect(app.fanout.status).toBe('closed')
    expect(memoryBus('fastify-plugin').subscriberCount(key)).toBe(0)
  })

  it('closes its bus in onClose', async () => {
    const key = uniqueKey('fastify-close')
    const a = await member(memory(key))
    expect(memoryBus('fastify-plugin').subscriberCount(key)).toBe(1)
    await a.app.close()
    expect(a.app.fanout.status).toBe('closed')
    expect(memoryBus('fastify-plugin').subscriberCount(key)).toBe(0)
  })
})

const REDIS_URL = process.env.FANOUT_REDIS_URL ?? ''
const describeRedis = REDIS_URL ? describe : describe.skip

describeRedis('the Fastify plugin with a Redis client of yours', () => {
  it('closes only what it opened: your client stays open after fastify.close()', async () => {
    const client = new Redis(REDIS_URL, { lazyConnect: true, connectionName: 'fastify-user-client' })
    await client.connect()
    const port = Number(new URL(REDIS_URL).port)
    const ours = async () =>
      (await redisCommand(port, ['CLIENT', 'LIST']))
        .split('\n')
        .filter((line) => line.includes('fastify-user'))
    const key = uniqueKey('fastify-client')
    const [a, b] = [await member({ redisClient: client, key }), await member({ uri: REDIS_URL, key })]
    a.app.fanout.publish('fleet.tick', { marker: 'm', n: 0 })
    await waitFor('the tick through your client', () => b.seen.length === 1)
    await a.app.close()
    expect(client.status).toBe('ready')
    expect(await client.ping()).toBe('PONG')
    expect(await ours()).toHaveLength(1)
    await client.quit()
  })
})
