/**
 * Durable delivery on RabbitMQ (a stream queue per channel), at the adapter level: plain callbacks, no
 * Feathers. Most cases use the shared broker; the outage cases (a cut connection, kill -9 and restart)
 * start one private broker for the file.
 */
import type { DurableHooks, DurableLog, StartPosition } from '../src/adapter'
import { SyncConfigError, type SyncError } from '../src/errors'
import { parseOptions } from '../src/engine/options'
import type { SyncOptions } from '../src/index'
import { createAmqpAdapter, type AmqpAdapter } from '../adapters/amqp'
import { rabbitmqRows, rabbitmqctl, startRabbitMq, type BrokerHandle } from './brokers'
import { uniqueKey, waitFor } from './helpers/apps'
import { Codec } from '../src/protocol/codec'
import { readMissed } from '../src/feathers/recovery/replay'

jest.setTimeout(180_000)

type Durable = AmqpAdapter & DurableLog

interface Opened {
  adapter: Durable
  statuses: string[]
  errors: SyncError[]
}

interface Received {
  texts: string[]
  positions: string[]
  gaps: Parameters<DurableHooks['gap']>[0][]
  hooks: DurableHooks
}

const opened: Opened[] = []
const fast = { amqpRecovery: { initialDelayMs: 50, maxDelayMs: 300 } }

function durableOf(adapter: AmqpAdapter): Durable {
  if (!adapter.capabilities.durable) throw new Error('adapter has no durable capability')
  return adapter as Durable
}

function create(uri: string, key: string, extra: SyncOptions = {}): Durable {
  return durableOf(createAmqpAdapter(parseOptions({ uri, key, durable: true, ...fast, ...extra })))
}

async function open(uri: string, key: string, extra: SyncOptions = {}): Promise<Opened> {
  const entry: Opened = { adapter: create(uri, key, extra), statuses: [], errors: [] }
  opened.push(entry)
  await entry.adapter.connect({
    status: (status) => entry.statuses.push(status),
    error: (error) => entry.errors.push(error)
  })
  return entry
}

function receiver(): Received {
  const received: Received = { texts: [], positions: [], gaps: [], hooks: undefined as never }
  received.hooks = {
    message(payload, position) {
      received.texts.push(Buffer.from(payload as Uint8Array).toString('utf8'))
      received.positions.push(position)
    },
    gap: (gap) => received.gaps.push(gap)
  }
  return received
}

async function subscribe(adapter: Durable, start: StartPosition): Promise<Received> {
  const received = receiver()
  await adapter.subscribeDurable(start, received.hooks)
  return received
}

/** Publishes `texts` one after another, each confirmed before the next. */
async function publishAll(adapter: Durable, texts: string[]): Promise<void> {
  for (const text of texts) expect(await adapter.publishDurable(text)).toBeUndefined()
}

const range = (prefix: string, from: number, to: number): string[] =>
  Array.from({ length: to - from }, (_, i) => `${prefix}-${from + i}`)

const waitCount = (who: string, received: Received, count: number, timeoutMs?: number) =>
  waitFor(
    `${who} to have ${count} messages (has ${received.texts.length}, gaps ${JSON.stringify(received.gaps)})`,
    () => received.texts.length >= count,
    timeoutMs
  )

afterEach(async () => {
  await Promise.all(opened.splice(0).map(({ adapter }) => adapter.close()))
})

const shared = process.env.FANOUT_AMQP_URL
const describeShared = shared ? describe : describe.skip

describeShared('durable delivery on a RabbitMQ stream', () => {
  const uri = shared as string

  it('says it is durable, publishes confirmed, and hands over positions that increase', async () => {
    const key = uniqueKey('durable')
    expect(createAmqpAdapter(parseOptions({ uri, key })).capabilities).toEqual({
      broadcast: true,
      durable: false
    })
    const { adapter } = await open(uri, key)
    expect(adapter.capabilities).toEqual({ broadcast: true, durable: true, group: true })
    await publishAll(adapter, range('m', 0, 5))
    const received = await subscribe(adapter, { kind: 'head' })
    await waitCount('head subscriber', received, 5)
    expect(received.texts).toEqual(range('m', 0, 5))
    for (let i = 1; i < received.positions.length; i++) {
      expect(adapter.comparePositions(received.positions[i], received.positions[i - 1])).toBe(1)
      expect(adapter.comparePositions(received.positions[i - 1], received.positions[i])).toBe(-1)
    }
    expect(adapter.comparePositions('7', '7')).toBe(0)
    expect(await adapter.lastPosition()).toBe(received.positions[4])
  })

  it('tail sees only what is published after it subscribed; head sees everything retained', async () => {
    const key = uniqueKey('durable')
    const { adapter: publisher } = await open(uri, key)
    await publishAll(publisher, range('old', 0, 3))
    const tail = await subscribe((await open(uri, key)).adapter, { kind: 'tail' })
    await publishAll(publisher, range('new', 0, 3))
    await waitCount('tail subscriber', tail, 3)
    const head = await subscribe((await open(uri, key)).adapter, { kind: 'head' })
    await waitCount('head subscriber', head, 6)
    // A last message after both counts were met: anything unexpected would have come before it.
    await publishAll(publisher, ['end'])
    await waitFor('both to see the end', () => tail.texts.includes('end') && head.texts.includes('end'))
    expect(tail.texts).toEqual([...range('new', 0, 3), 'end'])
    expect(head.texts).toEqual([...range('old', 0, 3), ...range('new', 0, 3), 'end'])
    expect(tail.gaps).toEqual([])
  })

  it('tail on an empty stream starts at its first message', async () => {
    const key = uniqueKey('durable')
    const { adapter } = await open(uri, key)
    expect(await adapter.lastPosition()).toBeUndefined()
    const tail = await subscribe(adapter, { kind: 'tail' })
    await publishAll(adapter, range('m', 0, 3))
    await waitCount('tail subscriber', tail, 3)
    expect(tail.texts).toEqual(range('m', 0, 3))
  })

  it('after P hands over exactly what follows P', async () => {
    const key = uniqueKey('durable')
    const { adapter: publisher } = await open(uri, key)
    await publishAll(publisher, range('m', 0, 6))
    const head = await subscribe(publisher, { kind: 'head' })
    await waitCount('head subscriber', head, 6)
    const after = await subscribe((await open(uri, key)).adapter, {
      kind: 'after',
      position: head.positions[2]
    })
    await waitCount('after subscriber', after, 3)
    await publishAll(publisher, ['end'])
    await waitFor('the end', () => after.texts.includes('end'))
    expect(after.texts).toEqual([...range('m', 3, 6), 'end'])
    expect(after.positions.slice(0, 3)).toEqual(head.positions.slice(3, 6))
    expect(after.gaps).toEqual([])
  })

  it('two subscribers each get every message once, in order', async () => {
    const key = uniqueKey('durable')
    const { adapter: publisher } = await open(uri, key)
    const one = await subscribe((await open(uri, key)).adapter, { kind: 'tail' })
    const two = await subscribe((await open(uri, key)).adapter, { kind: 'tail' })
    const texts = range('m', 0, 200)
    // Concurrent publishes on one channel keep their order.
    await Promise.all(texts.map((text) => publisher.publishDurable(text)))
    await publishAll(publisher, ['end'])
    await waitFor('both to see the end', () => one.texts.includes('end') && two.texts.includes('end'))
    expect(one.texts).toEqual([...texts, 'end'])
    expect(two.texts).toEqual([...texts, 'end'])
    expect(two.positions).toEqual(one.positions)
  })

  it('readRange reads what follows a position, at most limit, up to the end of the log', async () => {
    const key = uniqueKey('durable')
    const { adapter } = await open(uri, key)
    await publishAll(adapter, range('m', 0, 10))
    const head = await subscribe(adapter, { kind: 'head' })
    await waitCount('head subscriber', head, 10)
    const text = (rows: { payload: unknown }[]) =>
      rows.map((row) => Buffer.from(row.payload as Uint8Array).toString())
    const three = await adapter.readRange(head.positions[2], 3)
    expect(text(three)).toEqual(range('m', 3, 6))
    expect(three.map((row) => row.position)).toEqual(head.positions.slice(3, 6))
    expect(text(await adapter.readRange(head.positions[7], 100))).toEqual(range('m', 8, 10))
    expect(await adapter.readRange(head.positions[9], 10)).toEqual([])
    expect(await adapter.readRange(head.positions[0], 0)).toEqual([])
  })

  it('keeps a named position in the broker, for the next adapter with that name', async () => {
    const key = uniqueKey('durable')
    const first = await open(uri, key, { durable: { consumerName: 'worker-1' } })
    expect(await first.adapter.loadPosition('worker-1')).toBeUndefined()
    await first.adapter.savePosition('worker-1', '41')
    await first.adapter.savePosition('worker-1', '42')
    await first.adapter.close()
    const second = await open(uri, key, { durable: { consumerName: 'worker-1' } })
    expect(await second.adapter.loadPosition('worker-1')).toBe('42')
    // Reading leaves it in place.
    expect(await second.adapter.loadPosition('worker-1')).toBe('42')
    expect(await second.adapter.loadPosition('worker-2')).toBeUndefined()
    await expect(second.adapter.savePosition('worker-1', 'x')).rejects.toMatchObject({ option: 'position' })
  })

  it('reports a gap with its exact bounds when retention dropped what a subscriber needed', async () => {
    const key = uniqueKey('durable')
    // 20 kB retention in 2 kB segments: a few hundred small messages trim the oldest.
    const small = { durable: { maxBytes: 20_000 } }
    const { adapter: publisher } = await open(uri, key, small)
    await publishAll(publisher, ['m-0'])
    const start = await publisher.lastPosition()
    expect(start).toBeDefined()
    expect(await publisher.firstPosition?.()).toBe(start)
    const texts = range('m', 1, 600).map((text) => `${text}-${'x'.repeat(100)}`)
    for (let i = 0; i < texts.length; i += 50) {
      await Promise.all(texts.slice(i, i + 50).map((text) => publisher.publishDurable(text)))
    }
    const resumed = await subscribe((await open(uri, key, small)).adapter, {
      kind: 'after',
      position: start as string
    })
    await waitFor('the gap', () => resumed.gaps.length > 0 && resumed.texts.length > 0)
    await waitFor('the rest', () => resumed.texts[resumed.texts.length - 1] === texts[texts.length - 1])
    expect(resumed.gaps).toHaveLength(1)
    const [gap] = resumed.gaps
    const first = resumed.positions[0]
    expect(gap).toEqual({ after: start, firstAvailable: first, missing: Number(first) - Number(start) - 1 })
    // Everything from the first message it got on arrived, in order: only the gap is missing.
    const firstIndex = texts.indexOf(resumed.texts[0])
    expect(firstIndex).toBeGreaterThan(0)
    expect(resumed.texts).toEqual(texts.slice(firstIndex))
    // `missing` counts offsets; RabbitMQ also spends one on each new segment, never fewer than messages.
    expect(gap.missing).toBeGreaterThanOrEqual(firstIndex)
    // The oldest position held is the first one the resumed subscriber got.
    expect(await publisher.firstPosition?.()).toBe(first)
    // A client recovery older than that is told it was trimmed; one from the first held position is not.
    const last = (await publisher.lastPosition()) as string
    const codec = new Codec(
      { instanceId: 'reader', channel: key, maxMessageBytes: 65_536, keepOwn: true },
      () => {}
    )
    expect(await readMissed(publisher, codec, start as string, last, 1_000)).toMatchObject({ gap: 'trimmed' })
    expect(await readMissed(publisher, codec, first, last, 1_000)).not.toHaveProperty('gap')
  })

  it('refuses bad durable options, naming them', () => {
    const bad = (durable: unknown) => () => create(uri, 'k', { durable: durable as SyncOptions['durable'] })
    expect(bad({ maxMessages: 10 })).toThrow(expect.objectContaining({ option: 'durable.maxMessages' }))
    expect(bad({ maxBytes: 1.5 })).toThrow(expect.objectContaining({ option: 'durable.maxBytes' }))
    expect(bad({ maxAgeMs: -1 })).toThrow(expect.objectContaining({ option: 'durable.maxAgeMs' }))
    expect(bad({ consumerName: '' })).toThrow(expect.objectContaining({ option: 'durable.consumerName' }))
    expect(bad({ consumerName: 'n'.repeat(300) })).toThrow(
      expect.objectContaining({ option: 'durable.consumerName' })
    )
    expect(bad('yes')).toThrow(SyncConfigError)
  })

  it('turns a stream declared with other retention into a typed error naming the option', async () => {
    const key = uniqueKey('durable')
    await open(uri, key, { durable: { maxBytes: 50_000, maxAgeMs: 60_000 } })
    for (const [durable, option] of [
      [{ maxBytes: 60_000, maxAgeMs: 60_000 }, 'durable.maxBytes'],
      [{ maxBytes: 50_000, maxAgeMs: 120_000 }, 'durable.maxAgeMs']
    ] as const) {
      const entry: Opened = { adapter: create(uri, key, { durable }), statuses: [], errors: [] }
      opened.push(entry)
      const connecting = entry.adapter.connect({
        status: () => undefined,
        error: (e) => entry.errors.push(e)
      })
      await expect(connecting).rejects.toBeInstanceOf(SyncConfigError)
      await expect(connecting).rejects.toMatchObject({ option })
      expect(entry.errors).toEqual([expect.objectContaining({ option })])
    }
  })

  it('refuses the pub/sub subscribe and a malformed start on a durable adapter', async () => {
    const { adapter } = await open(uri, uniqueKey('durable'))
    await expect(adapter.subscribe(() => undefined)).rejects.toMatchObject({ option: 'durable' })
    await expect(
      adapter.subscribeDurable({ kind: 'after', position: '-1' }, receiver().hooks)
    ).rejects.toMatchObject({
      option: 'start.position'
    })
  })
})

describe('durable delivery on RabbitMQ through outages (private broker)', () => {
  let broker: BrokerHandle
  // Both cases use one stream. RabbitMQ 3.10 can lose a stream or queue declared a moment before a
  // kill -9 (see docs/amqp.md); in production the stream long predates any crash, and so it does here.
  const key = uniqueKey('durable-outage')

  beforeAll(async () => {
    broker = await startRabbitMq()
  })

  afterAll(async () => {
    await Promise.all(opened.splice(0).map(({ adapter }) => adapter.close()))
    await broker?.stop()
  })

  /** Closes, on the broker, the connection whose client named itself `name`. */
  async function cut(name: string): Promise<void> {
    const connections = await rabbitmqRows(broker, 'list_connections', 'pid', 'client_properties')
    const mine = connections.filter((row) => row[1]?.includes(name))
    expect(mine).toHaveLength(1)
    await rabbitmqctl(broker, 'close_connection', mine[0][0], 'durable test cut')
  }

  it('resumes after its connection is cut while messages are published: none lost, none doubled, ready again', async () => {
    const name = `subscriber-${key}`
    const { adapter: publisher } = await open(broker.url, key)
    const sub = await open(broker.url, key, {
      amqpConnectionOptions: { clientProperties: { connection_name: name } }
    })
    const received = await subscribe(sub.adapter, { kind: 'head' })
    const sent: string[] = []
    let stop = false
    const publishing = (async () => {
      // Bounded: stops when told, or after 20_000 messages.
      for (let i = 0; !stop && i < 20_000; i++) {
        await publisher.publishDurable(`m-${i}`)
        sent.push(`m-${i}`)
      }
    })()
    await waitCount('subscriber before the cut', received, 50)
    await cut(name)
    await waitFor(`subscriber statuses ${sub.statuses} to go reconnecting then ready`, () =>
      sub.statuses.join(',').includes('reconnecting,ready')
    )
    const afterCut = sent.length
    await waitFor('100 more published after the cut', () => sent.length >= afterCut + 100)
    stop = true
    await publishing
    await waitFor(
      `subscriber to have all ${sent.length} (has ${received.texts.length})`,
      () => received.texts.length >= sent.length
    )
    expect(received.texts).toEqual(sent)
    expect(received.gaps).toEqual([])
    expect(sub.statuses[sub.statuses.length - 1]).toBe('ready')
    // A named instance keeps where it stopped.
    await sub.adapter.savePosition('kept', received.positions[received.positions.length - 1])
  })

  // A broker restart (SIGTERM, as a deploy or an upgrade does). Not kill -9: a single RabbitMQ 3.10 node
  // killed -9 may not bring its stream queue back (every queue.declare answers 404 "home node … is down or
  // inaccessible"; docs/amqp.md, reliability.md), which failed this test 4 of 4 runs alone on one day,
  // with this library's code of the day before too. Crash durability is proven on a 3-node cluster
  // (test/durable-amqp-cluster.test.ts, a node killed -9).
  it('keeps what it confirmed through a broker restart, and the subscriber resumes where it was', async () => {
    const pub = await open(broker.url, key)
    const sub = await open(broker.url, key)
    const received = await subscribe(sub.adapter, { kind: 'tail' })
    const before = range('before', 0, 300)
    await Promise.all(before.map((text) => pub.adapter.publishDurable(text)))
    const last = await pub.adapter.lastPosition()
    await pub.adapter.savePosition('kept', last as string)
    await broker.kill('SIGTERM')
    await broker.restart()
    await waitFor(
      'both adapters to be ready again',
      () => [pub, sub].every(({ statuses }) => statuses.join(',').includes('reconnecting,ready')),
      30_000
    ).catch((error: Error) => {
      const seen = [pub, sub].map(({ statuses, errors }) => `${statuses} ${errors.map((e) => e.message)}`)
      throw new Error(`${error.message}: ${seen.join(' | ')}`)
    })
    const after = range('after', 0, 100)
    await publishAll(pub.adapter, after)
    await waitFor(
      `subscriber to have ${before.length + after.length} (has ${received.texts.length})`,
      () => received.texts.length >= before.length + after.length
    )
    expect(received.texts).toEqual([...before, ...after])
    expect(received.gaps).toEqual([])
    // A new reader after the restart finds everything confirmed before it, and the saved position.
    const reader = await open(broker.url, key)
    expect(await reader.adapter.loadPosition('kept')).toBe(last)
    const rows = await reader.adapter.readRange(received.positions[0], before.length, true)
    expect(rows.map((row) => Buffer.from(row.payload as Uint8Array).toString())).toEqual(before)
  })
})
