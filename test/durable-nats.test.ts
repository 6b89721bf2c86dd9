/**
 * Durable delivery on NATS JetStream, at the adapter level, on the shared nats-server of the run (started
 * with -js): positions, where a subscription starts, readers, ranges, named positions, gaps, limits and
 * bad input. Outages are in durable-nats-faults.test.ts.
 */
import { connect } from 'nats'
import { streamName } from '../adapters/nats/durable-options'
import { SyncConfigError, SyncOversizeError } from '../src/errors'
import type { DurableOptions } from '../src/engine/options'
import { startNats, type BrokerHandle } from './brokers'
import { createTestApp, uniqueKey, waitFor } from './helpers/apps'
import {
  adapterFor,
  closeProbes,
  expectIncreasing,
  follow,
  last,
  numbered,
  open,
  openPublisher,
  publishAll,
  texts
} from './helpers/durable-nats'

const shared = process.env.FANOUT_NATS_URL
if (!shared) throw new Error('FANOUT_NATS_URL is not set: run with FANOUT_BROKERS including nats')

let brokers: BrokerHandle[] = []

afterEach(async () => {
  await closeProbes()
  await Promise.all(brokers.map((broker) => broker.stop()))
  brokers = []
})

describe('nats durable: the log', () => {
  it('gives every publish a position, increasing, that lastPosition and comparePositions agree with', async () => {
    const probe = await openPublisher(shared, uniqueKey('nd-pos'))
    expect(await probe.adapter.lastPosition()).toBeUndefined()
    const positions = await publishAll(probe, numbered('m', 5))
    expect(positions.map(Number)).toEqual([1, 2, 3, 4, 5])
    expect(await probe.adapter.lastPosition()).toBe('5')
    expect(probe.adapter.comparePositions('2', '10')).toBeLessThan(0)
    expect(probe.adapter.comparePositions('10', '10')).toBe(0)
    expect(probe.adapter.comparePositions('10', '9')).toBeGreaterThan(0)
  })

  it('tail sees only what is published after it subscribed; head sees all; after P what follows P', async () => {
    const key = uniqueKey('nd-start')
    const publisher = await openPublisher(shared, key)
    const before = await publishAll(publisher, numbered('old', 3))
    const tail = await open('tail', shared, key)
    const head = await open('head', shared, key)
    const after = await open('after', shared, key)
    await follow(tail, { kind: 'tail' })
    await follow(head, { kind: 'head' })
    await follow(after, { kind: 'after', position: before[1] })
    await publishAll(publisher, numbered('new', 3))
    await waitFor('every subscriber to have new-2', () =>
      [tail, head, after].every((probe) => last(texts(probe)) === 'new-2')
    )
    expect(texts(tail)).toEqual(['new-0', 'new-1', 'new-2'])
    expect(texts(head)).toEqual(['old-0', 'old-1', 'old-2', 'new-0', 'new-1', 'new-2'])
    expect(texts(after)).toEqual(['old-2', 'new-0', 'new-1', 'new-2'])
    expect(after.got[0].position).toBe(String(Number(before[1]) + 1))
    expect([tail, head, after].flatMap((probe) => probe.gaps)).toEqual([])
  })

  it('hands every message once and in order to each of two subscribers', async () => {
    const key = uniqueKey('nd-two')
    const [a, b] = await Promise.all(['a', 'b'].map((name) => open(name, shared, key)))
    const publisher = await openPublisher(shared, key)
    await follow(a, { kind: 'tail' })
    await follow(b, { kind: 'tail' })
    const sent = numbered('m', 300)
    // Concurrent publishes: the order the stream stored them in is the order of their positions.
    const positions = await Promise.all(sent.map((text) => publisher.adapter.publishDurable(text)))
    const byPosition = sent.map((text, i) => ({ text, position: Number(positions[i]) }))
    byPosition.sort((x, y) => x.position - y.position)
    await waitFor('both subscribers to have 300 messages', () => a.got.length >= 300 && b.got.length >= 300)
    for (const probe of [a, b]) {
      expect({ who: probe.name, got: texts(probe) }).toEqual({
        who: probe.name,
        got: byPosition.map((entry) => entry.text)
      })
      expectIncreasing(probe)
    }
  })

  it('readRange returns what follows a position, at most limit, oldest first', async () => {
    const probe = await openPublisher(shared, uniqueKey('nd-range'))
    expect(await probe.adapter.readRange('0', 10)).toEqual([])
    const positions = await publishAll(probe, numbered('m', 8))
    const range = await probe.adapter.readRange(positions[2], 4)
    expect(range.map((entry) => [Buffer.from(entry.payload).toString(), entry.position])).toEqual(
      [3, 4, 5, 6].map((i) => [`m-${i}`, positions[i]])
    )
    expect((await probe.adapter.readRange(positions[5], 100)).map((entry) => entry.position)).toEqual([
      positions[6],
      positions[7]
    ])
    expect(await probe.adapter.readRange(positions[7], 100)).toEqual([])
  })

  it('keeps a named position in the broker, for the next adapter with that name on that channel', async () => {
    const key = uniqueKey('nd-named')
    const first = await open('first life', shared, key, { consumerName: 'pod-0' })
    await first.adapter.savePosition('pod-0', '41')
    await first.adapter.savePosition('pod-0', '42')
    await first.adapter.close()
    const second = await open('second life', shared, key, { consumerName: 'pod-0' })
    expect(await second.adapter.loadPosition('pod-0')).toBe('42')
    expect(await second.adapter.loadPosition('pod-1')).toBeUndefined()
    const elsewhere = await open('other channel', shared, uniqueKey('nd-named'))
    expect(await elsewhere.adapter.loadPosition('pod-0')).toBeUndefined()
  })

  it('reports a gap with the exact count when retention dropped what an after-position needs', async () => {
    const key = uniqueKey('nd-gap')
    const publisher = await openPublisher(shared, key, { maxMessages: 5 })
    const positions = await publishAll(publisher, numbered('m', 12))
    const late = await open('late', shared, key, { maxMessages: 5 })
    await follow(late, { kind: 'after', position: positions[1] })
    await waitFor('the five retained messages', () => late.got.length >= 5)
    // Sequences 1..12, the stream keeps 8..12: after 2, the messages 3..7 are gone.
    expect(late.gaps).toEqual([{ after: '2', firstAvailable: '8', missing: 5 }])
    expect(texts(late)).toEqual(numbered('m', 5, 7))
  })

  it('applies the configured limits to the stream, also to one that existed with other limits', async () => {
    const key = uniqueKey('nd-limits')
    await open('old config', shared, key, { maxMessages: 10, maxAgeMs: 60_000, maxBytes: 1_000_000 })
    await open('new config', shared, key, { maxMessages: 20, maxAgeMs: 120_000, maxBytes: 2_000_000 })
    const nc = await connect({ servers: shared })
    try {
      const { config } = await (await nc.jetstreamManager()).streams.info(streamName(key))
      expect(config).toMatchObject({
        subjects: [`${key}.log`],
        max_msgs: 20,
        max_age: 120_000 * 1_000_000,
        max_bytes: 2_000_000,
        discard: 'old',
        storage: 'file'
      })
    } finally {
      await nc.close()
    }
  })
})

describe('nats durable: bad input', () => {
  it.each([
    [{ maxAgeMs: -1 }, 'durable.maxAgeMs'],
    [{ maxMessages: 1.5 }, 'durable.maxMessages'],
    [{ maxBytes: 0 }, 'durable.maxBytes'],
    [{ consumerName: '' }, 'durable.consumerName']
  ])('names the bad option %j', (durable, option) => {
    expect(() => adapterFor(shared, uniqueKey('nd-bad'), durable as DurableOptions, {})).toThrow(
      expect.objectContaining({ name: 'SyncConfigError', option })
    )
  })

  it('names jetstreamReplicas when out of range', () => {
    expect(() => adapterFor(shared, uniqueKey('nd-bad'), true, { jetstreamReplicas: 7 })).toThrow(
      expect.objectContaining({ name: 'SyncConfigError', option: 'jetstreamReplicas' })
    )
  })

  it('refuses a position that is not a stream sequence', async () => {
    const probe = await open('reader', shared, uniqueKey('nd-bad'))
    await expect(probe.adapter.readRange('1700000000000-0', 1)).rejects.toThrow(SyncConfigError)
    await expect(
      probe.adapter.subscribeDurable({ kind: 'after', position: 'abc' }, { message: () => {}, gap: () => {} })
    ).rejects.toThrow(SyncConfigError)
  })

  it('rejects connect with a SyncConfigError naming durable on a server without JetStream', async () => {
    const broker = await startNats({ jetstream: false })
    brokers.push(broker)
    const failure = open('no jetstream', broker.url, uniqueKey('nd-nojs'))
    await expect(failure).rejects.toThrow(SyncConfigError)
    await expect(failure).rejects.toMatchObject({ option: 'durable', message: expect.stringMatching(/-js/) })
    // Through an app: `ready` rejects with it rather than waiting for connectTimeoutMs.
    const { app } = createTestApp({ uri: broker.url, key: uniqueKey('nd-nojs'), durable: true })
    try {
      await expect(app.sync.ready).rejects.toMatchObject({ name: 'SyncConfigError', option: 'durable' })
    } finally {
      await app.teardown()
    }
  })

  it('refuses a message the Nats-Msg-Id header takes past max_payload as oversize, not as a lost connection', async () => {
    const broker = await startNats({ jetstream: true, config: 'max_payload: 1024' })
    brokers.push(broker)
    const probe = await openPublisher(broker.url, uniqueKey('nd-big'))
    // The header `Nats-Msg-Id: abcdef012345-17` takes 42 bytes: a body of 982 fits exactly, 983 does not.
    const failure = probe.adapter.publishDurable('x'.repeat(983), 'abcdef012345-17')
    await expect(failure).rejects.toThrow(SyncOversizeError)
    await expect(failure).rejects.toMatchObject({
      size: 1025,
      limit: 1024,
      message: expect.stringMatching(/with its headers/)
    })
    expect(probe.statuses).toEqual(['ready'])
    // The connection is fine: the next message is stored.
    expect(await probe.adapter.publishDurable('x'.repeat(982), 'abcdef012345-18')).toMatch(/^\d+$/)
    expect(probe.errors).toEqual([])
  })

  it("refuses a message over the stream's max_msg_size as oversize, and stays ready", async () => {
    const key = uniqueKey('nd-msgsize')
    const probe = await openPublisher(shared, key)
    // An operator limits the stream's message size.
    const nc = await connect({ servers: shared })
    try {
      await (await nc.jetstreamManager()).streams.update(streamName(key), { max_msg_size: 200 })
    } finally {
      await nc.close()
    }
    const failure = probe.adapter.publishDurable('x'.repeat(300), 'abcdef012345-1')
    await expect(failure).rejects.toThrow(SyncOversizeError)
    await expect(failure).rejects.toMatchObject({
      limit: 200,
      message: expect.stringMatching(/max_msg_size/)
    })
    expect(probe.statuses).toEqual(['ready'])
    expect(await probe.adapter.publishDurable('small', 'abcdef012345-2')).toMatch(/^\d+$/)
  })
})
