/**
 * Durable delivery on the Redis adapter (a stream per channel), at the adapter level against the
 * shared redis-server: positions, start points, two readers, gaps, named positions, ranges, age
 * trimming and the typed errors. Outages and Redis Cluster: durable-redis-faults.test.ts.
 */
import { Redis } from 'ioredis'
import { createRedisAdapter } from '../adapters/redis'
import { SyncConfigError } from '../src/errors'
import { parseOptions } from '../src/engine/options'
import type { SyncOptions } from '../src/index'
import { uniqueKey } from './helpers/apps'
import { connectInstance, publishAll, subscribe, texts, waitOn, type Instance } from './helpers/durable'

const REDIS_URL = process.env.FANOUT_REDIS_URL ?? ''
const describeRedis = REDIS_URL ? describe : describe.skip

const make = (options: SyncOptions) => createRedisAdapter(parseOptions({ uri: REDIS_URL, ...options }))

describeRedis('redis durable delivery', () => {
  let open: Instance[] = []
  let raw: Redis
  const instance = async (name: string, options: SyncOptions): Promise<Instance> => {
    const made = await connectInstance(name, make(options))
    open.push(made)
    return made
  }

  beforeAll(async () => {
    raw = new Redis(REDIS_URL, { lazyConnect: true })
    await raw.connect()
  })
  afterAll(async () => {
    await raw.quit()
  })
  afterEach(async () => {
    await Promise.all(open.map(({ adapter }) => adapter.close()))
    open = []
  })

  it('declares the durable and group capabilities only when asked to', () => {
    expect(make({ key: uniqueKey() }).capabilities).toEqual({ broadcast: true, durable: false })
    expect(make({ key: uniqueKey(), durable: true }).capabilities).toEqual({
      broadcast: true,
      durable: true,
      group: true
    })
    expect('publishDurable' in make({ key: uniqueKey() })).toBe(false)
  })

  it('stores each message in the stream {key}:log, at increasing positions', async () => {
    const key = uniqueKey('positions')
    const writer = await instance('writer', { key, durable: true })
    expect(await writer.adapter.lastPosition()).toBeUndefined()
    const positions = await publishAll(writer, texts('m', 20))
    for (let i = 1; i < positions.length; i++) {
      expect(writer.adapter.comparePositions(positions[i - 1], positions[i])).toBeLessThan(0)
      expect(writer.adapter.comparePositions(positions[i], positions[i - 1])).toBeGreaterThan(0)
    }
    expect(writer.adapter.comparePositions(positions[3], positions[3])).toBe(0)
    expect(await writer.adapter.lastPosition()).toBe(positions[19])
    expect(await raw.type(`{${key}}:log`)).toBe('stream')
    expect(await raw.xlen(`{${key}}:log`)).toBe(20)
  })

  it('stores a message sent again with the same id once (a resend after a lost reply), per producer', async () => {
    const key = uniqueKey('append-once')
    const stream = `{${key}}:log`
    const writer = await instance('writer', { key, durable: true })
    const { adapter } = writer
    const first = await adapter.publishDurable('a1', 'p1-1')
    const second = await adapter.publishDurable('a2', 'p1-2')
    // A resend of the last one gets its position back; an older one is known too, without a position.
    expect(await adapter.publishDurable('a2', 'p1-2')).toBe(second)
    expect(await adapter.publishDurable('a1', 'p1-1')).toBeUndefined()
    // Another producer's sequence is its own; an id in another form is appended as it comes.
    await adapter.publishDurable('b1', 'p2-1')
    await adapter.publishDurable('c', 'not an engine id')
    await adapter.publishDurable('c', 'not an engine id')
    await adapter.publishDurable('a3', 'p1-3')
    const stored = (await raw.xrange(stream, '-', '+')).map(([, fields]) => fields[1])
    expect(stored).toEqual(['a1', 'a2', 'b1', 'c', 'c', 'a3'])
    expect(adapter.comparePositions(first as string, second as string)).toBeLessThan(0)
    // One small record per producer, expiring with the stream's age limit (24 h by default).
    const ttl = await raw.pttl(`{${key}}:producer:p1`)
    expect(ttl).toBeGreaterThan(23 * 3_600_000)
    expect(await raw.hget(`{${key}}:producer:p1`, 'last')).toBe('3')
  })

  it('stores a publish that arrives after a later one once (out of order, as on a failover)', async () => {
    const key = uniqueKey('append-reorder')
    const writer = await instance('writer', { key, durable: true })
    const { adapter } = writer
    await adapter.publishDurable('m1', 'q-1')
    await adapter.publishDurable('m4', 'q-4')
    // 2 and 3 were skipped over: each is stored when it comes, once.
    await adapter.publishDurable('m3', 'q-3')
    await adapter.publishDurable('m3', 'q-3')
    await adapter.publishDurable('m2', 'q-2')
    await adapter.publishDurable('m2', 'q-2')
    await adapter.publishDurable('m4', 'q-4')
    await adapter.publishDurable('m5', 'q-5')
    const stored = (await raw.xrange(`{${key}}:log`, '-', '+')).map(([, fields]) => fields[1])
    expect(stored).toEqual(['m1', 'm4', 'm3', 'm2', 'm5'])
  })

  it('stores the publishes of one tick (sent in one script call) each once, in order, with their positions', async () => {
    const key = uniqueKey('append-tick')
    const writer = await instance('writer', { key, durable: true })
    const { adapter } = writer
    const first = await Promise.all([1, 2, 3, 4, 5].map((n) => adapter.publishDurable(`t${n}`, `r-${n}`)))
    // Resends of 3 and 4 (older: no position), of 5 (the highest: its position again), then 6 and 7.
    const again = await Promise.all([3, 4, 5, 6, 7].map((n) => adapter.publishDurable(`t${n}`, `r-${n}`)))
    expect(again.slice(0, 3)).toEqual([undefined, undefined, first[4]])
    const stored = await raw.xrange(`{${key}}:log`, '-', '+')
    expect(stored.map(([, fields]) => fields[1])).toEqual(['t1', 't2', 't3', 't4', 't5', 't6', 't7'])
    expect(stored.map(([id]) => id)).toEqual([...first, again[3], again[4]])
    expect(await raw.hget(`{${key}}:producer:r`, 'last')).toBe('7')
  })

  it('compares ids numerically, beyond 2^53 and across digit counts', () => {
    const adapter = make({ key: uniqueKey(), durable: true }) as Instance['adapter']
    expect(adapter.comparePositions('9-0', '10-0')).toBeLessThan(0)
    expect(adapter.comparePositions('5-9', '5-10')).toBeLessThan(0)
    expect(adapter.comparePositions('1-9007199254740993', '1-9007199254740992')).toBeGreaterThan(0)
  })

  it('tail sees only messages added after it subscribed', async () => {
    const key = uniqueKey('tail')
    const writer = await instance('writer', { key, durable: true })
    await publishAll(writer, texts('old', 5))
    const reader = await instance('reader', { key, durable: true })
    await subscribe(reader, { kind: 'tail' })
    const positions = await publishAll(writer, texts('new', 5))
    await waitOn([reader], 'the five new messages', () => reader.messages.length >= 5)
    expect(reader.texts()).toEqual(texts('new', 5))
    expect(reader.messages.map(({ position }) => position)).toEqual(positions)
    expect(reader.statuses).toEqual([])
    expect(reader.gaps).toEqual([])
  })

  it('head sees everything retained, then what follows', async () => {
    const key = uniqueKey('head')
    const writer = await instance('writer', { key, durable: true })
    await publishAll(writer, texts('old', 5))
    const reader = await instance('reader', { key, durable: true })
    await subscribe(reader, { kind: 'head' })
    await publishAll(writer, texts('new', 2))
    await waitOn([reader], 'seven messages', () => reader.messages.length >= 7)
    expect(reader.texts()).toEqual([...texts('old', 5), ...texts('new', 2)])
    expect(reader.gaps).toEqual([])
  })

  it('after P sees exactly what follows P', async () => {
    const key = uniqueKey('after')
    const writer = await instance('writer', { key, durable: true })
    const positions = await publishAll(writer, texts('m', 6))
    const reader = await instance('reader', { key, durable: true })
    await subscribe(reader, { kind: 'after', position: positions[2] })
    await waitOn([reader], 'three messages', () => reader.messages.length >= 3)
    await publishAll(writer, ['end'])
    await waitOn([reader], 'the end marker', () => reader.texts().includes('end'))
    expect(reader.texts()).toEqual(['m-3', 'm-4', 'm-5', 'end'])
    expect(reader.gaps).toEqual([])
  })

  it('two subscribers each get every message once, in order, through full batches', async () => {
    const key = uniqueKey('two')
    const [a, b] = [await instance('a', { key, durable: true }), await instance('b', { key, durable: true })]
    await Promise.all([subscribe(a, { kind: 'tail' }), subscribe(b, { kind: 'tail' })])
    const writer = await instance('writer', { key, durable: true })
    // Sent without waiting for each other: more than one read batch (500) arrives at once.
    const sent = texts('m', 1_200)
    const positions = await Promise.all(sent.map((text) => writer.adapter.publishDurable(text)))
    await waitOn(
      [a, b],
      'every message at both',
      () => a.messages.length >= 1_200 && b.messages.length >= 1_200
    )
    for (const reader of [a, b]) {
      expect(reader.texts()).toEqual(sent)
      expect(reader.messages.map(({ position }) => position)).toEqual(positions)
      expect(reader.gaps).toEqual([])
    }
  })

  it('reports a gap when retention dropped what came after the start position', async () => {
    const key = uniqueKey('gap')
    const writer = await instance('writer', { key, durable: { maxMessages: 10 } })
    const [first] = await publishAll(writer, ['first'])
    // MAXLEN ~ trims whole stream nodes (100 entries by default): 300 more make it drop some.
    await publishAll(writer, texts('m', 300))
    const kept = await writer.adapter.readRange('0-0', 1_000)
    expect(kept.length).toBeLessThan(300)
    const reader = await instance('reader', { key, durable: true })
    await subscribe(reader, { kind: 'after', position: first })
    await waitOn([reader], 'the retained messages', () => reader.messages.length >= kept.length)
    expect(reader.gaps).toEqual([
      { after: first, firstAvailable: kept[0].position, missing: undefined, reason: 'retention' }
    ])
    expect(reader.messages.map(({ position }) => position)).toEqual(kept.map(({ position }) => position))
  })

  it('reports a gap when a burst above retention passes a live reader between two reads', async () => {
    const key = uniqueKey('live-gap')
    const writer = await instance('writer', { key, durable: { maxMessages: 10 } })
    const reader = await instance('reader', { key, durable: { maxMessages: 10 } })
    await subscribe(reader, { kind: 'tail' })
    const [first] = await publishAll(writer, ['first'])
    await waitOn([reader], 'the first message', () => reader.messages.length === 1)
    // One transaction: the blocked read is answered after all 300, by when the stream is trimmed.
    const burst = raw.multi()
    for (const text of texts('m', 300)) burst.xadd(`{${key}}:log`, 'MAXLEN', '~', 10, '*', 'p', text)
    await burst.exec()
    await waitOn([reader], 'the last of the burst', () => reader.texts().includes('m-299'))
    const kept = await writer.adapter.readRange('0-0', 1_000)
    expect(kept.length).toBeLessThan(300)
    expect(reader.gaps).toEqual([
      { after: first, firstAvailable: kept[0].position, missing: undefined, reason: 'retention' }
    ])
    expect(reader.messages.slice(1).map(({ position }) => position)).toEqual(
      kept.map(({ position }) => position)
    )
  })

  it('reports no gap when only messages before the start position were trimmed', async () => {
    const key = uniqueKey('nogap')
    const writer = await instance('writer', { key, durable: { maxMessages: 10 } })
    const positions = await publishAll(writer, texts('m', 300))
    const kept = await writer.adapter.readRange('0-0', 1_000)
    const reader = await instance('reader', { key, durable: true })
    await subscribe(reader, { kind: 'after', position: kept[0].position })
    await publishAll(writer, ['end'])
    await waitOn([reader], 'the end marker', () => reader.texts().includes('end'))
    expect(reader.gaps).toEqual([])
    expect(reader.messages.map(({ position }) => position)).toEqual([
      ...positions.slice(positions.indexOf(kept[0].position) + 1),
      reader.messages.at(-1)?.position
    ])
  })

  it('keeps named positions in Redis across adapter objects ({key}:pos:<name>)', async () => {
    const key = uniqueKey('named')
    const writer = await instance('writer', { key, durable: true })
    const first = await instance('first life', { key, durable: { consumerName: 'pod-0' } })
    await subscribe(first, { kind: 'tail' })
    await publishAll(writer, texts('m', 4))
    await waitOn([first], 'four messages', () => first.messages.length >= 4)
    await first.adapter.savePosition('pod-0', first.messages[1].position)
    await first.adapter.close()
    expect(await raw.get(`{${key}}:pos:pod-0`)).toBe(first.messages[1].position)

    const second = await instance('second life', { key, durable: { consumerName: 'pod-0' } })
    expect(await second.adapter.loadPosition('pod-1')).toBeUndefined()
    const saved = await second.adapter.loadPosition('pod-0')
    expect(saved).toBe(first.messages[1].position)
    await subscribe(second, { kind: 'after', position: saved as string })
    await waitOn([second], 'the two after the saved one', () => second.messages.length >= 2)
    expect(second.texts()).toEqual(['m-2', 'm-3'])
  })

  it('reads ranges after a position, bounded by the limit', async () => {
    const key = uniqueKey('range')
    const writer = await instance('writer', { key, durable: true })
    const positions = await publishAll(writer, texts('m', 10))
    const range = await writer.adapter.readRange(positions[3], 4)
    expect(range.map(({ position }) => position)).toEqual(positions.slice(4, 8))
    expect(range.map(({ payload }) => Buffer.from(payload).toString())).toEqual(texts('m', 10).slice(4, 8))
    expect(await writer.adapter.readRange(positions[9], 5)).toEqual([])
  })

  it('trims by age while publishing (XTRIM MINID ~)', async () => {
    const key = uniqueKey('age')
    const writer = await instance('writer', { key, durable: { maxAgeMs: 300 } })
    // 150 entries fill one whole stream node, which approximate trimming can drop once it has aged.
    const old = await publishAll(writer, texts('old', 150))
    const idTime = Number(old[149].split('-')[0])
    await waitOn([writer], 'the first entries to be older than maxAgeMs', () => Date.now() > idTime + 400)
    await publishAll(writer, ['fresh'])
    const left = await writer.adapter.readRange('0-0', 1_000)
    expect(left.length).toBeLessThan(151)
    expect(left.at(-1)?.payload.toString()).toBe('fresh')
  })

  describe('typed errors', () => {
    it.each([
      [{ durable: 'yes' }, 'durable'],
      [{ durable: { maxMessages: 0 } }, 'durable.maxMessages'],
      [{ durable: { maxAgeMs: 1.5 } }, 'durable.maxAgeMs'],
      [{ durable: { maxBytes: -1 } }, 'durable.maxBytes'],
      [{ durable: { consumerName: '' } }, 'durable.consumerName'],
      [{ durable: true, key: '}x' }, 'key']
    ])('rejects %j naming %s', (options, option) => {
      const attempt = () => make({ key: uniqueKey(), ...(options as SyncOptions) })
      expect(attempt).toThrow(SyncConfigError)
      expect(attempt).toThrow(expect.objectContaining({ option }))
    })

    it('rejects bad positions, limits and consumer names', async () => {
      const reader = await instance('reader', { key: uniqueKey('bad'), durable: true })
      const bad = { kind: 'after', position: 'yesterday' } as const
      await expect(
        reader.adapter.subscribeDurable(bad, { message: () => undefined, gap: () => undefined })
      ).rejects.toThrow(expect.objectContaining({ name: 'SyncConfigError', option: 'start.position' }))
      await expect(reader.adapter.readRange('1-0', 0)).rejects.toThrow(
        expect.objectContaining({ option: 'limit' })
      )
      await expect(reader.adapter.savePosition('', '1-0')).rejects.toThrow(
        expect.objectContaining({ option: 'consumerName' })
      )
      expect(() => reader.adapter.comparePositions('1-0', '1')).toThrow(SyncConfigError)
    })
  })
})
