/**
 * Batched frames (the `batch` option): the shared suite on memory, Redis, NATS and RabbitMQ (each broker's raw client
 * taps and injects frames), NATS `max_payload` as a frame limit, the frame format and the option's checks.
 */
import { connect as connectAmqp, type ChannelModel } from 'amqplib'
import { connect, type NatsConnection } from 'nats'
import { Redis } from 'ioredis'
import { memoryBus, sync, SyncConfigError, type Payload } from '../src/index'
import { isFrame, packFrames, unpackFrame } from '../src/protocol/batch'
import { startNats, type BrokerHandle } from './brokers'
import { barrier, createFleet, teardownFleet, uniqueKey, waitFor, type TestApp } from './helpers/apps'
import { batchSuite } from './helpers/batch-suite'
import { feathers } from '@feathersjs/feathers'

const REDIS_URL = process.env.FANOUT_REDIS_URL ?? ''
const NATS_URL = process.env.FANOUT_NATS_URL ?? ''
const AMQP_URL = process.env.FANOUT_AMQP_URL ?? ''

const memory = memoryBus('batch')
batchSuite({
  name: 'memory',
  options: (key) => ({ uri: 'memory://batch', key }),
  tap: async (key) => {
    const messages: Payload[] = []
    memory.subscribe(key, (payload) => messages.push(payload))
    return { messages, close: async () => undefined }
  },
  publishRaw: async (key, payload) => memory.publish(key, payload)
})

/** Collects every message on `key` with the raw client `nc`; resolves once the server has the subscription. */
async function natsTap(nc: NatsConnection, key: string) {
  const messages: Payload[] = []
  const sub = nc.subscribe(key, { callback: (_error, msg) => messages.push(Buffer.from(msg.data)) })
  await nc.flush()
  return { messages, close: async () => sub.unsubscribe() }
}

if (REDIS_URL) {
  let publisher: Redis | undefined
  afterAll(async () => {
    await publisher?.quit()
  })
  batchSuite({
    name: 'redis',
    options: (key) => ({ uri: REDIS_URL, key }),
    tap: async (key) => {
      const sub = new Redis(REDIS_URL)
      const messages: Payload[] = []
      sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => messages.push(message))
      await sub.subscribe(key)
      return { messages, close: async () => void (await sub.quit()) }
    },
    publishRaw: async (key, payload) => {
      publisher ??= new Redis(REDIS_URL)
      await publisher.publish(key, payload)
    }
  })
}

if (NATS_URL) {
  let raw: Promise<NatsConnection> | undefined
  const client = () => (raw ??= connect({ servers: NATS_URL }))
  afterAll(async () => {
    if (raw) await (await raw).close()
  })
  batchSuite({
    name: 'nats',
    options: (key) => ({ uri: NATS_URL, key }),
    tap: async (key) => natsTap(await client(), key),
    publishRaw: async (key, payload) => {
      const nc = await client()
      nc.publish(key, payload)
      await nc.flush()
    }
  })
}

if (AMQP_URL) {
  let raw: Promise<ChannelModel> | undefined
  const client = () => (raw ??= connectAmqp(AMQP_URL))
  afterAll(async () => {
    if (raw) await (await raw).close()
  })
  batchSuite({
    name: 'amqp',
    options: (key) => ({ uri: AMQP_URL, key }),
    tap: async (key) => {
      const channel = await (await client()).createChannel()
      await channel.assertExchange(key, 'fanout', { durable: false })
      const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true })
      await channel.bindQueue(queue, key, '')
      const messages: Payload[] = []
      await channel.consume(queue, (message) => message && messages.push(message.content), { noAck: true })
      return { messages, close: () => channel.close() }
    },
    publishRaw: async (key, payload) => {
      const channel = await (await client()).createConfirmChannel()
      try {
        await channel.assertExchange(key, 'fanout', { durable: false })
        channel.publish(key, '', payload)
        // Once confirmed, the broker has queued it everywhere: the next barrier comes after it.
        await channel.waitForConfirms()
      } finally {
        await channel.close()
      }
    }
  })
}

describe('batched frames under a small NATS max_payload', () => {
  let server: BrokerHandle
  let fleet: TestApp[] = []
  beforeAll(async () => {
    server = await startNats({ jetstream: false, config: 'max_payload: 2048' })
  })
  afterAll(async () => {
    await teardownFleet(fleet)
    await server?.stop()
  })

  it('keeps every frame within the server limit, so nothing is dropped as oversize', async () => {
    const key = uniqueKey('batch-max-payload')
    const nc = await connect({ servers: server.url })
    const tap = await natsTap(nc, key)
    fleet = await createFleet(2, { uri: server.url, key, batch: true, errorReportIntervalMs: 0 })
    const [sender, receiver] = fleet
    const markers = Array.from({ length: 30 }, (_, i) => `small-${i}`)
    await Promise.all(
      markers.map((marker) => sender.app.service('todos').create({ marker, text: 'x'.repeat(200) }))
    )
    await barrier(fleet, sender)
    const seen = receiver.received.filter((r) => String(r.data.marker).startsWith('small-'))
    expect(seen.map((r) => r.data.marker)).toEqual(markers)
    expect(sender.app.sync.stats().dropped.oversize).toBe(0)
    expect(sender.errors).toEqual([])
    // Frames of a few events each, all within the limit (none refused and resent one by one).
    const frames = tap.messages.filter((message) => isFrame(message))
    expect(frames.length).toBeGreaterThan(0)
    expect(tap.messages.length).toBeLessThan(markers.length)
    for (const message of tap.messages) expect((message as Buffer).byteLength).toBeLessThanOrEqual(2048)
    await tap.close()
    await nc.close()
  })
})

describe('batched frames around an outage and from a custom adapter (memory)', () => {
  let fleet: TestApp[] = []
  afterEach(async () => {
    if (!memory.online) memory.goOnline()
    await teardownFleet(fleet)
    fleet = []
  })

  it('resends in order the events of a tick in which the connection dropped, before those sent after it', async () => {
    const key = uniqueKey('batch-outage')
    fleet = await createFleet(2, { uri: 'memory://batch', key, batch: true })
    const [sender, receiver] = fleet
    const markers = Array.from({ length: 20 }, (_, i) => `outage-${i}`)
    let outbound = 0
    // Offline after the 10th event is handed over, within the same tick: 10 wait for the frame, 10 queue.
    sender.app.on('sync-out', () => {
      if (++outbound === 10) memory.goOffline()
    })
    await Promise.all(markers.map((marker) => sender.app.service('todos').create({ marker })))
    // The first ten wait for the end of the tick, then join the queue in front of the rest.
    await waitFor(
      () => `20 queued, got ${JSON.stringify(sender.app.sync.stats().outbox)}`,
      () => sender.app.sync.stats().outbox.messages === 20
    )
    memory.goOnline()
    await barrier(fleet, sender)
    const seen = receiver.received.filter((r) => String(r.data.marker).startsWith('outage-'))
    expect(seen.map((r) => r.data.marker)).toEqual(markers)
  })

  it('counts as unsent the events of a tick that had not left when the instance closed without a broker', async () => {
    fleet = await createFleet(1, { uri: 'memory://batch', key: uniqueKey('batch-close'), batch: true })
    const [sender] = fleet
    let outbound = 0
    sender.app.on('sync-out', () => {
      if (++outbound === 5) memory.goOffline()
    })
    const markers = Array.from({ length: 10 }, (_, i) => `closing-${i}`)
    await Promise.all(markers.map((marker) => sender.app.service('todos').create({ marker })))
    // Five wait for the end of the tick, five are queued; closing while offline sends none of them.
    await sender.app.sync.close()
    expect(sender.app.sync.stats().dropped.unsent).toBe(10)
  })

  it('delivers each event of a frame that a custom adapter hands to sync-in as it came', async () => {
    fleet = await createFleet(1, { uri: 'memory://batch', key: uniqueKey('batch-sync-in') })
    const [app] = fleet
    const envelope = (marker: string) =>
      JSON.stringify({ event: 'created', path: 'todos', data: { marker }, context: null })
    const [frame] = packFrames([envelope('in-1'), envelope('in-2')], { maxMessages: 10, maxBytes: 1_000 })
    app.app.emit('sync-in', frame)
    expect(app.received.map((r) => r.data.marker)).toEqual(['in-1', 'in-2'])
    expect(app.app.sync.stats().received).toBe(2)
  })
})

describe('the frame format', () => {
  it('packs a run into one frame and reads it back, in order', () => {
    const items = ['{"a":1}', Buffer.from([1, 2, 3]), 'é']
    const [frame] = packFrames(items, { maxMessages: 10, maxBytes: 1_000 })
    expect(isFrame(frame)).toBe(true)
    expect((unpackFrame(frame as Buffer) as Buffer[]).map((item) => item.toString('latin1'))).toEqual([
      '{"a":1}',
      '\u0001\u0002\u0003',
      Buffer.from('é').toString('latin1')
    ])
  })

  it('sends a message alone as it is, and one too large to share a frame by itself', () => {
    expect(packFrames(['{"a":1}'], { maxMessages: 10, maxBytes: 100 })).toEqual(['{"a":1}'])
    const big = 'x'.repeat(200)
    const out = packFrames(['1', '2', big, '3'], { maxMessages: 10, maxBytes: 100 })
    expect(out.map((item) => (isFrame(item) ? (unpackFrame(item) as Buffer[]).length : item))).toEqual([
      2,
      big,
      '3'
    ])
  })

  it('tells frames from JSON, sealed and BSON messages', () => {
    expect(isFrame('{"event":"created"}')).toBe(false)
    expect(isFrame(Buffer.from('FFo1 sealed'))).toBe(false)
    expect(isFrame(Buffer.from([0x16, 0, 0, 0, 2]))).toBe(false)
  })
})

describe('the batch option', () => {
  const configure = (options: Record<string, unknown>) => () => feathers().configure(sync(options))

  it('is taken together with durable (each frame one message of the log)', () => {
    expect(configure({ uri: 'memory://batch-options', batch: true, durable: true })).not.toThrow()
  })

  it('refuses bad limits and misspelt names, naming the option', () => {
    expect(configure({ uri: 'memory://batch-options', batch: { maxMessages: 0 } })).toThrow(SyncConfigError)
    expect(configure({ uri: 'memory://batch-options', batch: { maxMessages: 0 } })).toThrow(
      /batch\.maxMessages/
    )
    expect(configure({ uri: 'memory://batch-options', batch: { maxByte: 10 } })).toThrow(/batch\.maxBytes/)
    expect(configure({ uri: 'memory://batch-options', batch: 'yes' })).toThrow(/Option "batch" must be/)
  })
})
