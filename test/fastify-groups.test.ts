/**
 * Run-once handling through the Fastify plugin (`subscribe(topic, handler, { group })`) in one process on
 * the durable memory adapter: one member per message, plain subscribers still get everything, retries,
 * dead letters (event, log, replay), leaving the group on unsubscribe, and typed errors. The same across
 * processes on Redis and NATS is test/fastify-groups-fleet.test.ts.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import type { SyncError } from '../src/errors'
import { fanout, type FanoutDeadLetterEvent, type FanoutGroupMeta, type FanoutOptions } from '../src/fastify'
import { uniqueKey, waitFor } from './helpers/apps'
import { loggedFanout, type LogLine } from './helpers/fastify-app'
import type { Tick } from './helpers/fastify-topics'

interface Member {
  app: FastifyInstance
  /** Ticks its plain subscriber got. */
  seen: Tick[]
  /** Ticks its group handler handled, with the meta. */
  handled: { tick: Tick; meta: FanoutGroupMeta<'fleet.tick'> }[]
  errors: SyncError[]
  letters: FanoutDeadLetterEvent[]
  logs: LogLine[]
  stop: () => Promise<void>
}

let apps: FastifyInstance[] = []

const memory = (key: string, extra: Partial<FanoutOptions> = {}): FanoutOptions => ({
  uri: 'memory://fastify-groups',
  key,
  durable: true,
  errorReportIntervalMs: 0,
  ...extra
})

async function member(
  options: FanoutOptions,
  handle: (tick: Tick, meta: FanoutGroupMeta<'fleet.tick'>) => unknown = () => undefined,
  group: Record<string, unknown> = { group: 'history' }
): Promise<Member> {
  const { app, logs } = await loggedFanout(options, (started) => apps.push(started))
  const m: Member = { app, seen: [], handled: [], errors: [], letters: [], logs, stop: async () => undefined }
  app.fanout.on('error', (error) => m.errors.push(error))
  app.fanout.on('dead-letter', (event) => m.letters.push(event))
  app.fanout.subscribe('fleet.tick', (tick) => void m.seen.push(tick))
  m.stop = app.fanout.subscribe(
    'fleet.tick',
    async (tick, meta) => {
      await handle(tick, meta)
      m.handled.push({ tick, meta })
    },
    { group: 'history', ...group }
  )
  return m
}

/**
 * Waits (bounded) until every member is a member of the broker's group: a new group starts at the log's
 * tail, so what is published before the first join is not the group's.
 */
async function joined(members: Member[], group = 'history'): Promise<void> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const stats = await Promise.all(members.map((m) => m.app.fanout.groupStats()))
    if (stats.every((list) => list.some((s) => s.group === group && s.joined))) return
    if (Date.now() > deadline) throw new Error(`Not every instance joined ${group}: ${JSON.stringify(stats)}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const handledNs = (members: Member[]) => members.flatMap((m) => m.handled.map(({ tick }) => tick.n))
const range = (count: number) => [...Array(count).keys()]

afterEach(async () => {
  await Promise.all(apps.map((app) => app.close()))
  apps = []
})

it('hands each message to one member of the group, while every plain subscriber gets all of them', async () => {
  const key = uniqueKey('fastify-group')
  const fleet = [await member(memory(key)), await member(memory(key)), await member(memory(key))]
  await joined(fleet)
  const marker = uniqueKey('once')
  for (let n = 0; n < 30; n++) fleet[n % 3].app.fanout.publish('fleet.tick', { marker, n })
  await waitFor(
    '30 handled in the group and 30 seen everywhere',
    () => handledNs(fleet).length >= 30 && fleet.every((m) => m.seen.length >= 30)
  )
  await Promise.all(fleet.map((m) => m.app.fanout.close()))
  expect(handledNs(fleet).sort((a, b) => a - b)).toEqual(range(30))
  for (const m of fleet) {
    expect(m.seen.map((tick) => tick.n).sort((a, b) => a - b)).toEqual(range(30))
    // Memory members take turns: each handled some.
    expect(m.handled.length).toBeGreaterThan(0)
    expect(m.errors).toEqual([])
  }
  const { meta } = fleet[0].handled[0]
  expect(meta).toMatchObject({
    topic: 'fleet.tick',
    group: 'history',
    attempt: 1,
    deliveries: 1,
    replay: false
  })
  expect(meta.idempotencyKey).toBe(`${meta.sender}:${meta.id}`)
  expect(meta.own).toBe(meta.sender === fleet[0].app.fanout.instanceId)
  expect(typeof meta.position).toBe('string')
  expect(meta.signal).toBeInstanceOf(AbortSignal)
})

it('retries a failing handler, dead-letters it after maxAttempts, and replays it once it works', async () => {
  let failing = true
  const attempts: number[] = []
  const only = await member(
    memory(uniqueKey('fastify-dead')),
    (_tick, meta) => {
      attempts.push(meta.attempt)
      if (failing) throw new Error('history store down')
    },
    { group: 'history', maxAttempts: 3, retryDelayMs: 1, maxRetryDelayMs: 5 }
  )
  await joined([only])
  const marker = uniqueKey('dead')
  only.app.fanout.publish('fleet.tick', { marker, n: 7 })
  await waitFor('the dead letter event', () => only.letters.length === 1)
  expect(attempts).toEqual([1, 2, 3])
  const [{ letter, error }] = only.letters
  expect(letter).toMatchObject({ group: 'history', topic: 'fleet.tick', data: { marker, n: 7 }, attempts: 3 })
  expect(error).toMatchObject({ code: 'SYNC_DEAD_LETTER', group: 'history', id: letter.id })
  expect(only.app.fanout.deadLetters('history')).toEqual([letter])
  expect(only.logs.some((line) => line.level === 50 && line.group === 'history')).toBe(true)
  expect((await only.app.fanout.groupStats())[0]).toMatchObject({ deadLettered: 1, retried: 2, handled: 0 })

  failing = false
  await only.app.fanout.replay('history', letter.id)
  expect(only.handled.map(({ tick, meta }) => [tick.n, meta.replay])).toEqual([[7, true]])
  expect(only.app.fanout.deadLetters('history')).toEqual([])
  expect((await only.app.fanout.groupStats())[0]).toMatchObject({ deadLettered: 0, handled: 1 })
})

it('leaves the group when its last handler is unsubscribed: the other members get everything', async () => {
  const key = uniqueKey('fastify-leave')
  const [stays, goes] = [await member(memory(key)), await member(memory(key))]
  await joined([stays, goes])
  await goes.stop()
  expect(await goes.app.fanout.groupStats()).toEqual([])
  expect(() => goes.app.fanout.deadLetters('history')).toThrow(expect.objectContaining({ option: 'group' }))
  const marker = uniqueKey('after-leave')
  for (let n = 0; n < 10; n++) goes.app.fanout.publish('fleet.tick', { marker, n })
  await waitFor('10 handled by the member that stayed', () => stays.handled.length >= 10)
  await stays.app.fanout.close()
  expect(handledNs([stays]).sort((a, b) => a - b)).toEqual(range(10))
  expect(goes.handled).toEqual([])
  // Its plain subscriber is untouched.
  expect(goes.seen).toHaveLength(10)
})

it('refuses a group without durable, a bad group name, a missing group and a bad option, naming each', async () => {
  const app = Fastify()
  apps.push(app)
  await app.register(fanout, memory(uniqueKey('fastify-refuse'), { durable: false }))
  const subscribe = (options: unknown) => () =>
    app.fanout.subscribe('fleet.tick', () => undefined, options as { group: string })
  expect(subscribe({ group: 'history' })).toThrow(
    expect.objectContaining({ name: 'SyncConfigError', option: 'durable' })
  )

  const durable = Fastify()
  apps.push(durable)
  await durable.register(fanout, memory(uniqueKey('fastify-refuse')))
  const sub = (options: unknown) => () =>
    durable.fanout.subscribe('fleet.tick', () => undefined, options as { group: string })
  expect(sub({ group: 'bad name' })).toThrow(expect.objectContaining({ option: 'group' }))
  expect(sub({})).toThrow(expect.objectContaining({ option: 'group' }))
  expect(sub(null)).toThrow(expect.objectContaining({ option: 'group' }))
  expect(sub({ group: 'ok', maxAtempts: 2 })).toThrow(expect.objectContaining({ option: 'maxAtempts' }))
  expect(sub({ group: 'ok', prefetch: 0 })).toThrow(expect.objectContaining({ option: 'prefetch' }))
})
