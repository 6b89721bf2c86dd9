/**
 * Batched frames in durable mode, on memory and the shared Redis, NATS (JetStream) and RabbitMQ (stream)
 * servers: a frame is one message of the log and each of its events gets the position `<message>#<n>`.
 * Batched and unbatched instances share one log; a named instance that was away gets every event it
 * missed once and in order; `readRange(…, inclusive)` reads the message at a position again (what a
 * client replay that resumes inside a frame needs).
 */
import type { DurableLog } from '../src/adapter'
import { positionOf } from '../src/feathers/context'
import { memoryBus, type Payload, type SyncOptions } from '../src/index'
import { splitPosition } from '../src/engine/event-positions'
import { isFrame } from '../src/protocol/batch'
import type { Codec } from '../src/protocol/codec'
import { readMissed } from '../src/feathers/recovery/replay'
import { createTestApp, uniqueKey, waitFor, type TestApp } from './helpers/apps'
import { fleetState } from './helpers/fleet-state'

interface Target {
  name: string
  uri: string | undefined
}

const TARGETS: Target[] = [
  { name: 'memory', uri: 'memory://durable-batch' },
  { name: 'redis', uri: process.env.FANOUT_REDIS_URL },
  { name: 'nats', uri: process.env.FANOUT_NATS_URL },
  { name: 'rabbitmq', uri: process.env.FANOUT_AMQP_URL }
]

/** Creates `count` todos in one burst (their events leave in one tick); markers `${prefix}-${i}`. */
async function burst(member: TestApp, prefix: string, count: number): Promise<string[]> {
  const markers = Array.from({ length: count }, (_, i) => `${prefix}-${i}`)
  await Promise.all(markers.map((marker) => member.app.service('todos').create({ marker })))
  return markers
}

/** What `member` saw of the `created` events whose marker starts with `prefix`, in arrival order. */
const seen = (member: TestApp, prefix: string) =>
  member.received
    .filter((r) => r.event === 'created' && String(r.data?.marker).startsWith(`${prefix}-`))
    .map((r) => ({ marker: String(r.data.marker), position: positionOf(r.context) }))

describe.each(TARGETS.filter((target) => target.uri !== undefined))(
  'durable batched frames on $name',
  ({ uri }) => {
    let apps: TestApp[] = []
    const start = async (options: SyncOptions): Promise<TestApp> => {
      const member = createTestApp({ uri, ...options })
      apps.push(member)
      await member.app.sync.ready
      return member
    }
    afterEach(async () => {
      await Promise.all(apps.map(({ app }) => app.teardown()))
      apps = []
    })

    it('batched and unbatched instances share the log: every event once, in order, each with its own position', async () => {
      const key = uniqueKey('durable-batch')
      const durable = true
      const batched = await start({ key, durable, batch: true })
      const other = await start({ key, durable, batch: true })
      const plain = await start({ key, durable: true })
      const fromBatched = await burst(batched, 'b', 120)
      const fromPlain = await burst(plain, 'p', 40)
      const done = () =>
        seen(other, 'b').length >= 120 &&
        seen(plain, 'b').length >= 120 &&
        seen(other, 'p').length >= 40 &&
        seen(batched, 'p').length >= 40
      await waitFor(`every event at every instance; ${fleetState(apps)}`, done, 15_000)
      for (const member of [other, plain]) {
        const got = seen(member, 'b')
        expect(got.map(({ marker }) => marker)).toEqual(fromBatched)
        // Events of one frame share its message and are numbered from 1; positions only grow.
        const framed = got.filter(({ position }) => splitPosition(position ?? '').index !== undefined)
        expect(framed.length).toBeGreaterThan(0)
        const positions = got.map(({ position }) => position)
        expect(new Set(positions).size).toBe(positions.length)
      }
      expect(seen(batched, 'p').map(({ marker }) => marker)).toEqual(fromPlain)
      expect(seen(other, 'p').map(({ marker }) => marker)).toEqual(fromPlain)
      const stats = other.app.sync.stats()
      expect(stats.dropped.duplicate + stats.dropped.shape).toBe(0)
    })

    it('a named instance that was away gets every event it missed, once and in order, from frames', async () => {
      const key = uniqueKey('durable-batch-named')
      const publisher = await start({ key, durable: true, batch: true })
      const first = await start({ key, durable: { consumerName: 'reader' }, batch: true })
      const before = await burst(publisher, 'a', 30)
      await waitFor(
        `the reader has the first burst; ${fleetState(apps)}`,
        () => seen(first, 'a').length >= 30
      )
      await first.app.teardown()
      apps = apps.filter((member) => member !== first)
      const missed = [...(await burst(publisher, 'm', 80)), ...(await burst(publisher, 'n', 80))]
      const again = await start({ key, durable: { consumerName: 'reader' }, batch: true })
      const all = () => [...seen(again, 'm'), ...seen(again, 'n')]
      await waitFor(`the restarted reader has what it missed; ${fleetState(apps)}`, () => all().length >= 160)
      expect(all().map(({ marker }) => marker)).toEqual(missed)
      // It resumed where it stopped (positions saved at most a second before): nothing of before twice.
      expect(seen(again, 'a').length).toBeLessThanOrEqual(before.length)
      expect(again.app.sync.stats().dropped.duplicate).toBe(0)
    })

    it('readRange with inclusive reads the message at the position first', async () => {
      const key = uniqueKey('durable-batch-range')
      const publisher = await start({ key, durable: true, batch: true })
      const reader = await start({ key, durable: true })
      await burst(publisher, 'r', 10)
      await waitFor(`the reader has the burst; ${fleetState(apps)}`, () => seen(reader, 'r').length >= 10)
      const log = (reader.app.sync as unknown as { bus: { log: DurableLog } }).bus.log
      const last = await log.lastPosition()
      expect(last).toBeDefined()
      const [held] = await log.readRange(last as string, 5, true)
      expect(held?.position).toBe(last)
      expect(isFrame(held.payload)).toBe(true)
      expect(await log.readRange(last as string, 5)).toEqual([])
    })

    it('a client replay that resumes inside a frame gets the rest of that frame, then what follows', async () => {
      const key = uniqueKey('durable-batch-replay')
      const publisher = await start({ key, durable: true, batch: true })
      const reader = await start({ key, durable: true })
      await burst(publisher, 'f', 10)
      await burst(publisher, 'g', 5)
      const got = () => [...seen(reader, 'f'), ...seen(reader, 'g')]
      await waitFor(`the reader has both bursts; ${fleetState(apps)}`, () => got().length >= 15)
      const inside = got().findIndex(({ position }) => (splitPosition(position ?? '').index ?? 0) >= 2)
      expect(inside).toBeGreaterThan(0)
      const { log, codec } = (reader.app.sync as unknown as { bus: { log: DurableLog; codec: Codec } }).bus
      const after = got()[inside].position as string
      const result = await readMissed(log, codec, after, await log.lastPosition(), 1_000)
      if (!('events' in result)) throw new Error(`replay after ${after}: ${result.message}`)
      const replayed = result.events.map(({ envelope, position }) => ({
        marker: String((envelope.data as { marker: string }).marker),
        position
      }))
      expect(replayed).toEqual(got().slice(inside + 1))
    })
  }
)

describe('what waited in the outbox leaves in frames (memory adapter)', () => {
  let apps: TestApp[] = []
  afterEach(async () => {
    await Promise.all(apps.map(({ app }) => app.teardown()))
    apps = []
  })

  it.each([
    ['durable', { durable: true }],
    ['plain pub/sub', {}]
  ])('%s', async (_mode, extra) => {
    const name = uniqueKey('outbox-frames')
    const uri = `memory://${name}`
    const tap: Payload[] = []
    memoryBus(name).subscribe('outbox', (payload) => tap.push(payload))
    const writer = createTestApp({ uri, key: 'outbox', batch: true, ...extra })
    const reader = createTestApp({ uri, key: 'outbox', ...extra })
    apps.push(writer, reader)
    await Promise.all(apps.map(({ app }) => app.sync.ready))
    memoryBus(name).goOffline()
    // One at a time: live, each would travel alone.
    const markers: string[] = []
    for (let i = 0; i < 50; i++) {
      markers.push(`q-${i}`)
      await writer.app.service('todos').create({ marker: `q-${i}` })
    }
    expect(writer.app.sync.stats().outbox.messages).toBe(50)
    memoryBus(name).goOnline()
    await waitFor(`the reader has all 50; ${fleetState(apps)}`, () => seen(reader, 'q').length >= 50)
    expect(seen(reader, 'q').map(({ marker }) => marker)).toEqual(markers)
    if ('durable' in extra) {
      // Every one of them came out of a frame of the log.
      expect(seen(reader, 'q').every(({ position }) => /#\d+$/.test(position ?? ''))).toBe(true)
    } else {
      expect(tap.length).toBeGreaterThan(0)
      expect(tap.every((payload) => isFrame(payload))).toBe(true)
    }
  })
})

describe('a replay from inside a frame on a log that cannot read a message again', () => {
  let apps: TestApp[] = []
  afterEach(async () => {
    await Promise.all(apps.map(({ app }) => app.teardown()))
    apps = []
  })

  it('reports a trimmed gap rather than skipping the rest of the frame', async () => {
    const uri = `memory://${uniqueKey('inclusive-ignored')}`
    const publisher = createTestApp({ uri, durable: true, batch: true })
    const reader = createTestApp({ uri, durable: true })
    apps.push(publisher, reader)
    await Promise.all(apps.map(({ app }) => app.sync.ready))
    await burst(publisher, 'x', 10)
    await waitFor(`the reader has the burst; ${fleetState(apps)}`, () => seen(reader, 'x').length >= 10)
    const inside = seen(reader, 'x').find(({ position }) => splitPosition(position ?? '').index === 2)
    expect(inside).toBeDefined()
    const { log, codec } = (reader.app.sync as unknown as { bus: { log: DurableLog; codec: Codec } }).bus
    // A custom adapter written before `inclusive` existed: it always reads after the position.
    const older: DurableLog = {
      ...log,
      readRange: (after, limit) => log.readRange(after, limit),
      comparePositions: (a, b) => log.comparePositions(a, b),
      lastPosition: () => log.lastPosition()
    }
    const result = await readMissed(older, codec, inside?.position as string, await log.lastPosition(), 100)
    expect(result).toMatchObject({ gap: 'trimmed' })
  })
})
