/**
 * The AMQP adapter against the shared RabbitMQ of the test run: the conformance suite (JSON and bson),
 * then what is particular to it: option checks, the feathers-sync topology, payload forms, latency.
 * Broker faults are in amqp-faults.test.ts, feathers-sync interop in amqp-interop.test.ts.
 */
import { feathers } from '@feathersjs/feathers'
import { connect, type ChannelModel, type ConsumeMessage } from 'amqplib'
import { parseAmqpOptions } from '../adapters/amqp/options'
import { parseOptions } from '../src/engine/options'
import { sync, SyncConfigError, type Serializer, type SyncOptions } from '../src/index'
import { conformanceSuite } from './conformance'
import { createFleet, teardownFleet, uniqueKey, waitFor, type TestApp } from './helpers/apps'

const url = process.env.FANOUT_AMQP_URL
if (!url) throw new Error('FANOUT_AMQP_URL is not set: run with FANOUT_BROKERS including rabbitmq')

// One raw connection for the whole file, to publish and look at what the library itself would not.
let raw: Promise<ChannelModel> | undefined
const rawConnection = () => (raw ??= connect(url))
afterAll(async () => {
  if (raw) await (await raw).close()
})

conformanceSuite({
  name: 'amqp',
  options: (key) => ({ uri: url, key }),
  publishRaw: async (key, payload) => {
    const channel = await (await rawConnection()).createConfirmChannel()
    try {
      await channel.assertExchange(key, 'fanout', { durable: false })
      channel.publish(key, '', Buffer.from(payload))
      // Once confirmed, the broker has queued it everywhere: the next barrier comes after it.
      await channel.waitForConfirms()
    } finally {
      await channel.close()
    }
  }
})

describe('amqp adapter', () => {
  let fleet: TestApp[] = []
  afterEach(async () => {
    await teardownFleet(fleet)
    fleet = []
  })

  it('checks its options when the app is configured, naming the bad one and never the password', () => {
    const bad: [SyncOptions, string][] = [
      [{ uri: 'amqp://' }, 'uri'],
      [{ uri: 'amqp://user:hunter2@[nope' }, 'uri'],
      [
        { uri: 'amqp://user:hunter2@host', amqpConnectionOptions: { heartbeat: -1 } },
        'amqpConnectionOptions.heartbeat'
      ],
      [
        { uri: 'amqp://user:hunter2@host', amqpConnectionOptions: { noDelay: 'yes' as unknown as boolean } },
        'amqpConnectionOptions.noDelay'
      ],
      [
        { uri: 'amqp://user:hunter2@host', amqpRecovery: { initialDelayMs: 1_000, maxDelayMs: 10 } },
        'amqpRecovery.maxDelayMs'
      ],
      [{ uri: 'amqp://user:hunter2@host', amqpRecovery: { maxDelayMs: -5 } }, 'amqpRecovery.maxDelayMs'],
      [
        { uri: 'amqp://user:hunter2@host', amqpRecovery: { topologyCheckIntervalMs: -1 } },
        'amqpRecovery.topologyCheckIntervalMs'
      ],
      [
        { uri: 'amqp://user:hunter2@host', amqpRecovery: { topologyCheckIntervalMs: 2 ** 31 } },
        'amqpRecovery.topologyCheckIntervalMs'
      ],
      [
        { uri: 'amqp://user:hunter2@host', amqpConnectionOptions: 'x' as unknown as object },
        'amqpConnectionOptions'
      ],
      [{ amqpConnection: {} } as SyncOptions, 'amqpConnection']
    ]
    for (const [options, option] of bad) {
      let error: unknown
      try {
        feathers().configure(sync.amqp(options))
      } catch (cause) {
        error = cause
      }
      expect(error).toBeInstanceOf(SyncConfigError)
      expect((error as SyncConfigError).option).toBe(option)
      expect((error as Error).message).not.toContain('hunter2')
    }
    expect(() => feathers().configure(sync.amqp({ uri: 'redis://host' }))).toThrow(/amqp:\/\/host:port/)
  })

  it('turns Nagle off by default, keeps tuning in the URI, and takes feathers-sync 3.x connection options', () => {
    const resolve = (options: SyncOptions) => parseAmqpOptions(parseOptions(options))
    const defaults = resolve({ uri: 'amqps://u:p@rabbit.example:5671/vhost?frameMax=8192' })
    expect(defaults.socket).toMatchObject({ noDelay: true, timeout: 10_000 })
    expect(defaults.target).toBe('rabbit.example:5671')
    expect(new URL(defaults.url).searchParams.get('heartbeat')).toBe('5')
    expect(new URL(defaults.url).searchParams.get('frameMax')).toBe('8192')
    expect(defaults).toMatchObject({
      initialDelayMs: 100,
      maxDelayMs: 250,
      topologyCheckIntervalMs: 2_000,
      contentType: 'application/json'
    })

    const tuned = resolve({
      uri: 'amqp://rabbit?heartbeat=30',
      serializer: 'bson',
      amqpConnectionOptions: {
        noDelay: false,
        heartbeat: 10,
        connectionOptions: { keepAlive: true },
        reconnectTimeInSeconds: 2
      }
    })
    expect(tuned.socket).toMatchObject({ noDelay: false, keepAlive: true })
    expect(tuned.socket).not.toHaveProperty('heartbeat')
    expect(tuned.target).toBe('rabbit:5672')
    expect(new URL(tuned.url).searchParams.get('heartbeat')).toBe('10')
    expect(tuned).toMatchObject({ maxDelayMs: 2_000, contentType: 'application/bson' })
    expect(new URL(resolve({ uri: 'amqp://rabbit?heartbeat=30' }).url).searchParams.get('heartbeat')).toBe(
      '30'
    )
    expect(
      new URL(
        resolve({ uri: url, amqpConnectionOptions: { heartbeatIntervalInSeconds: 7 } }).url
      ).searchParams.get('heartbeat')
    ).toBe('7')
  })

  it('runs for amqp:// URIs, sync.amqp() and the sync.rabbitmq() alias', async () => {
    const key = uniqueKey('amqp-alias')
    fleet = [...(await createFleet(1, { uri: url, key }))]
    for (const configure of [sync.amqp, sync.rabbitmq]) {
      const app = feathers()
      app.configure(configure({ uri: url, key }))
      await app.sync.ready
      expect(app.sync.type).toBe('amqp')
      await app.teardown()
    }
    expect(fleet[0].app.sync.type).toBe('amqp')
  })

  it("declares the exchange with feathers-sync's arguments (fanout, not durable) and marks its messages' content type", async () => {
    const key = uniqueKey('amqp-topology')
    fleet = await createFleet(2, { uri: url, key })
    const connection = await rawConnection()
    const channel = await connection.createChannel()
    try {
      // Re-declaring with the same arguments is accepted; with other ones the broker refuses (406).
      await channel.assertExchange(key, 'fanout', { durable: false })
      const { queue } = await channel.assertQueue('', { exclusive: true })
      await channel.bindQueue(queue, key, '')
      const messages: ConsumeMessage[] = []
      await channel.consume(queue, (message) => message && messages.push(message), { noAck: true })
      const marker = uniqueKey('typed')
      await fleet[0].app.service('todos').create({ marker })
      await waitFor('the raw consumer to get it', () => messages.length === 1)
      expect(messages[0].properties.contentType).toBe('application/json')
      expect(JSON.parse(messages[0].content.toString())).toMatchObject({
        event: 'created',
        path: 'todos',
        data: { marker }
      })
    } finally {
      await channel.close()
    }
    const strict = await connection.createChannel()
    strict.on('error', () => undefined)
    await expect(strict.assertExchange(key, 'fanout', { durable: true })).rejects.toThrow(
      /PRECONDITION_FAILED/
    )
  })

  it('carries bytes from a serializer that returns a plain Uint8Array, and hands up Buffers', async () => {
    const payloads: unknown[] = []
    const bytes: Serializer = {
      name: 'utf8-bytes',
      serialize: (message) => new TextEncoder().encode(JSON.stringify(message)),
      deserialize: (payload) => {
        payloads.push(payload)
        return JSON.parse(Buffer.from(payload as Uint8Array).toString('utf8'))
      }
    }
    fleet = await createFleet(2, { uri: url, key: uniqueKey('amqp-bytes'), serializer: bytes })
    const marker = uniqueKey('bytes')
    await fleet[0].app.service('todos').create({ marker, text: 'ünïcödé ✓' })
    await waitFor('the event', () => fleet[1].seen('created', marker).length === 1)
    expect(fleet[1].seen('created', marker)[0].data.text).toBe('ünïcödé ✓')
    expect(payloads.length).toBeGreaterThan(0)
    expect(payloads.every((payload) => Buffer.isBuffer(payload))).toBe(true)
    expect(fleet.flatMap((member) => member.errors)).toEqual([])
  })

  it('delivers a burst bigger than the socket buffer in full and in order, even when the sender closes right after it', async () => {
    fleet = await createFleet(2, { uri: url, key: uniqueKey('amqp-burst') })
    const [sender, receiver] = fleet
    const marker = uniqueKey('burst')
    const text = 'x'.repeat(4 * 1024)
    // 12 MB in one synchronous go: amqplib's buffer (2 x 1,024 frames) fills, publishes wait for its
    // drain and for the broker's confirms, and teardown waits for those before it closes.
    for (let n = 0; n < 3_000; n++) sender.app.service('todos').emit('status', { marker, n, text })
    await sender.app.teardown()
    await waitFor('the whole burst', () => receiver.seen('status', marker).length === 3_000, 20_000)
    expect(receiver.seen('status', marker).map((r) => r.data.n)).toEqual([...Array(3_000).keys()])
    expect(sender.app.sync.stats()).toMatchObject({ publishErrors: 0, dropped: { unsent: 0 } })
  })
})
