/**
 * Durable delivery on Redis when the stream itself is lost or goes back, each test on its own
 * redis-server: the key deleted or flushed under a live reader, the server restarted without persistence,
 * the stream replaced by an older copy of itself (what a replica promoted behind its master holds), and
 * new entries whose ids fall below the reader's position (a clock behind: here the stream starts with
 * an entry an hour ahead, so every id it hands out is too). The reader must never skip new entries
 * silently, report a `sync-gap` with `reason: 'lost'` where it may have missed some, and never one
 * where it did not.
 */
import Redis from 'ioredis'
import { createRedisAdapter } from '../adapters/redis'
import type { Position } from '../src/adapter'
import { parseOptions } from '../src/engine/options'
import { SyncLogResetError } from '../src/errors'
import type { SyncOptions } from '../src/index'
import { startRedis, type BrokerHandle } from './brokers'
import { uniqueKey } from './helpers/apps'
import {
  connectInstance,
  killReaders,
  publishAll,
  subscribe,
  texts,
  waitOn,
  type Instance
} from './helpers/durable'

let open: Instance[] = []
let broker: BrokerHandle | undefined
let client: Redis | undefined

// Idle reads end every 200 ms, each followed by the look at the stream.
const READER = { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 2_000, errorReportIntervalMs: 0 }

async function instance(name: string, options: SyncOptions): Promise<Instance> {
  const made = await connectInstance(name, createRedisAdapter(parseOptions(options)))
  open.push(made)
  return made
}

afterEach(async () => {
  await Promise.all(open.map(({ adapter }) => adapter.close()))
  open = []
  client?.disconnect()
  client = undefined
  await broker?.stop()
  broker = undefined
})

/** A server, a writer and a reader reading from the tail of `{key}:log`. */
async function setup(name: string, seedAhead = false) {
  broker = await startRedis()
  client = new Redis(broker.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1 })
  await client.connect()
  const key = uniqueKey(name)
  const stream = `{${key}}:log`
  // An entry an hour ahead: every id handed out after it is in that millisecond too.
  if (seedAhead) await client.xadd(stream, `${Date.now() + 3_600_000}-0`, 'p', 'seed')
  const writer = await instance('writer', { uri: broker.url, key, durable: true })
  const reader = await instance('reader', { uri: broker.url, key, durable: true, ...READER })
  // Subscribed too, as every instance is: its status then says when it can publish again.
  await subscribe(writer, { kind: 'tail' })
  await subscribe(reader, { kind: 'tail' })
  return { key, stream, writer, reader, redis: client }
}

const resets = (reader: Instance) =>
  reader.errors.filter((error): error is SyncLogResetError => error instanceof SyncLogResetError)

/** Waits until `reader` has handed over `count` messages, or told `count` reset errors. */
const received = (reader: Instance, count: number) =>
  waitOn([reader], `the reader to hand over ${count} messages`, () => reader.messages.length >= count)
const told = (reader: Instance, count: number) =>
  waitOn([reader], `the reader to report ${count} reset(s)`, () => resets(reader).length >= count)

const lastOf = (positions: Position[]) => positions[positions.length - 1]

describe('redis durable delivery when the stream is lost or goes back', () => {
  it('reports a deleted stream and a lost-reason gap, and reads what is written after', async () => {
    const { stream, writer, reader, redis } = await setup('deleted')
    const before = await publishAll(writer, texts('before', 10))
    await received(reader, 10)
    await redis.del(stream)
    await told(reader, 1)
    const after = await publishAll(writer, texts('after', 10))
    await received(reader, 20)

    expect(reader.texts()).toEqual([...texts('before', 10), ...texts('after', 10)])
    expect(reader.gaps).toEqual([
      { after: lastOf(before), firstAvailable: after[0], missing: undefined, reason: 'lost' }
    ])
    expect(resets(reader).map(({ after: at, end }) => ({ at, end }))).toEqual([
      { at: lastOf(before), end: undefined }
    ])
    expect(resets(reader)[0].message).toMatch(/is missing/)
  })

  it('reads entries written again under ids below its position after the key was deleted', async () => {
    const { stream, writer, reader, redis } = await setup('deleted-behind', true)
    const before = await publishAll(writer, texts('before', 10))
    await received(reader, 10)
    await redis.del(stream)
    await told(reader, 1)
    // The key is gone with the seed: these get ids of now, an hour below what the reader handled.
    const after = await publishAll(writer, texts('after', 10))
    expect(after[0] < lastOf(before)).toBe(true)
    await received(reader, 20)

    expect(reader.texts()).toEqual([...texts('before', 10), ...texts('after', 10)])
    expect(reader.gaps).toEqual([
      { after: lastOf(before), firstAvailable: after[0], missing: undefined, reason: 'lost' }
    ])
  })

  it('reads on when the stream is replaced by an older copy of itself, without a gap', async () => {
    const { stream, writer, reader, redis } = await setup('cut', true)
    await publishAll(writer, texts('kept', 10))
    await received(reader, 10)
    const copy = await redis.dumpBuffer(stream)
    const lost = await publishAll(writer, texts('lost', 10))
    await received(reader, 20)
    // What a replica 10 entries behind would hold once promoted.
    await redis.restore(stream, 0, copy, 'REPLACE')
    await told(reader, 1)
    // Redis hands out the lost entries' ids again: all at or below what the reader handled.
    const again = await publishAll(writer, texts('again', 10))
    expect(again).toEqual(lost)
    await received(reader, 30)

    expect(reader.texts()).toEqual([...texts('kept', 10), ...texts('lost', 10), ...texts('again', 10)])
    expect(reader.gaps).toEqual([])
    const [reset] = resets(reader)
    expect({ at: reset.after, message: reset.message }).toEqual({
      at: lastOf(lost),
      message: expect.stringMatching(/went back/)
    })
  })

  it('reports a gap, not a silent skip, when entries under reused ids came before it looked', async () => {
    const { stream, writer, reader, redis } = await setup('reused', true)
    await publishAll(writer, texts('kept', 10))
    await received(reader, 10)
    const copy = await redis.dumpBuffer(stream)
    const lost = await publishAll(writer, texts('lost', 10))
    await received(reader, 20)
    // In one step, so the reader cannot look in between: the older copy, and 10 new entries on it.
    const step = redis.multi().restore(stream, 0, copy, 'REPLACE')
    for (const text of texts('reused', 10)) step.xadd(stream, '*', 'p', text)
    await step.exec()
    await told(reader, 1)
    const later = await publishAll(writer, texts('later', 5))
    await received(reader, 25)

    // The reused ids cannot be told from the ones handed over without their content: skipped, and said so.
    expect(reader.texts()).toEqual([...texts('kept', 10), ...texts('lost', 10), ...texts('later', 5)])
    expect(reader.gaps).toEqual([
      { after: lastOf(lost), firstAvailable: later[0], missing: undefined, reason: 'lost' }
    ])
  })

  it('reports a lost-reason gap when the server restarted without persistence', async () => {
    const { writer, reader } = await setup('restart')
    const before = await publishAll(writer, texts('before', 10))
    await received(reader, 10)
    await broker?.restart()
    const after = await publishAll(writer, texts('after', 10))
    await received(reader, 20)

    expect(reader.texts()).toEqual([...texts('before', 10), ...texts('after', 10)])
    expect(reader.gaps).toEqual([
      { after: lastOf(before), firstAvailable: after[0], missing: undefined, reason: 'lost' }
    ])
    expect(resets(reader).length).toBeGreaterThan(0)
  })

  it('reports a flushed stream, and the writer stores on', async () => {
    const { writer, reader, redis } = await setup('flushed')
    const before = await publishAll(writer, texts('before', 10))
    await received(reader, 10)
    await redis.flushall()
    await told(reader, 1)
    const after = await publishAll(writer, texts('after', 10))
    await received(reader, 20)

    expect(reader.texts()).toEqual([...texts('before', 10), ...texts('after', 10)])
    expect(reader.gaps).toEqual([
      { after: lastOf(before), firstAvailable: after[0], missing: undefined, reason: 'lost' }
    ])
  })

  it('starting after a saved position the stream went back behind, reports the gap and reads on', async () => {
    const { key, stream, writer, reader, redis } = await setup('saved', true)
    const before = await publishAll(writer, texts('before', 10))
    await received(reader, 10)
    await reader.adapter.savePosition('late', lastOf(before))
    // Written again under ids of now, an hour below the saved position.
    await redis.del(stream)
    await publishAll(writer, texts('after', 10))
    const late = await instance('late', { uri: broker?.url, key, durable: true, ...READER })
    await subscribe(late, { kind: 'after', position: (await late.adapter.loadPosition('late')) as string })
    await told(late, 1)
    const later = await publishAll(writer, texts('later', 5))
    await received(late, 5)

    expect(late.texts()).toEqual(texts('later', 5))
    expect(late.gaps).toEqual([
      { after: lastOf(before), firstAvailable: later[0], missing: undefined, reason: 'lost' }
    ])
  })

  it('takes a key missing right after a read for a missing key, not for a gap', async () => {
    const { stream, writer, reader, redis } = await setup('read-then-missing')
    await publishAll(writer, texts('before', 10))
    await received(reader, 10)
    // Cut off once (the writer's reader too): the reader checks its next batch against the stream.
    expect(await killReaders(broker?.port ?? 0)).toBe(2)
    const back = () => reader.statuses.includes('reconnecting') && reader.statuses.at(-1) === 'ready'
    await waitOn([reader], 'the reader to be back', back)
    // One write: the blocked read gets the entry, and the check it sends next finds no key (what a node
    // serving the slot without the key answers). Before, that read as an empty stream: a gap.
    await redis.pipeline().xadd(stream, '*', 'p', 'probe').rename(stream, `${stream}:away`).exec()
    await told(reader, 1)
    await redis.rename(`${stream}:away`, stream)
    await publishAll(writer, texts('after', 10))
    await received(reader, 21)

    expect(reader.texts()).toEqual([...texts('before', 10), 'probe', ...texts('after', 10)])
    expect(reader.gaps).toEqual([])
  })

  it('reports nothing when the key is away a moment and comes back whole', async () => {
    const { stream, writer, reader, redis } = await setup('moment')
    await publishAll(writer, texts('before', 10))
    await received(reader, 10)
    // A node that briefly serves the slot without the key, then the one that holds it.
    await redis.rename(stream, `${stream}:away`)
    await told(reader, 1)
    await redis.rename(`${stream}:away`, stream)
    await publishAll(writer, texts('after', 10))
    await received(reader, 20)

    expect(reader.texts()).toEqual([...texts('before', 10), ...texts('after', 10)])
    expect(reader.gaps).toEqual([])
  })
})
