/**
 * Consumer groups over batched frames in durable mode, on memory and the shared Redis, NATS (JetStream)
 * and RabbitMQ servers: a frame's events are handled one by one, each once, retried and dead-lettered
 * alone, with its own event position where the broker gives positions, and the frame is acknowledged
 * once all of them are settled.
 */
import type { ConsumeMeta, DeadLetter } from '../src/index'
import { createTestApp, uniqueKey, waitFor, type TestApp } from './helpers/apps'
import { waitForMembers } from './helpers/groups-suite'

const TARGETS = [
  { name: 'memory', uri: 'memory://groups-batch' },
  { name: 'redis', uri: process.env.FANOUT_REDIS_URL },
  { name: 'nats', uri: process.env.FANOUT_NATS_URL },
  { name: 'rabbitmq', uri: process.env.FANOUT_AMQP_URL }
].filter((target): target is { name: string; uri: string } => target.uri !== undefined)

const FAST = { retryDelayMs: 10, maxRetryDelayMs: 40, claimAfterMs: 500, maxAttempts: 2 }
const FAILING = 7

describe.each(TARGETS)('consumer groups over batched frames on $name', ({ uri }) => {
  let apps: TestApp[] = []
  afterEach(async () => {
    await Promise.all(apps.map(({ app }) => app.teardown()))
    apps = []
  })

  it('handles each event of a frame once and dead-letters the failing one alone', async () => {
    const options = { uri, key: uniqueKey('groups-batch'), durable: true, batch: true }
    // The first alone: it creates the channel's log (see test/helpers/groups-suite.ts).
    apps.push(createTestApp(options))
    await apps[0].app.sync.ready
    apps.push(createTestApp(options))
    await apps[1].app.sync.ready
    const handled: { n: number; meta: ConsumeMeta }[] = []
    const letters: DeadLetter[] = []
    for (const { app } of apps) {
      app.on('sync-dead-letter', (letter: DeadLetter) => letters.push(letter))
      app.sync.consume<{ n: number }>(
        'frames',
        'todos',
        'created',
        async ({ n }, meta) => {
          if (n === FAILING) throw new Error(`boom ${n}`)
          handled.push({ n, meta })
        },
        FAST
      )
    }
    await waitForMembers(apps)
    const total = 60
    // One burst: the events leave in one tick, so in frames.
    await Promise.all(Array.from({ length: total }, (_, n) => apps[0].app.service('todos').create({ n })))
    const state = () =>
      `every event handled or dead-lettered: handled ${handled.length}, letters ${letters.length}, ` +
      `errors [${apps.flatMap((a) => a.errors.map((e) => e.message)).join('; ')}]`
    await waitFor(state, () => handled.length >= total - 1 && letters.length >= 1)
    const numbers = handled.map(({ n }) => n).sort((a, b) => a - b)
    expect(numbers).toEqual(Array.from({ length: total }, (_, n) => n).filter((n) => n !== FAILING))
    expect(letters).toHaveLength(1)
    expect(letters[0]).toMatchObject({ data: { n: FAILING }, attempts: 2 })
    // Each event has its own idempotency key; where the broker gives positions, events of frames have theirs.
    const keys = new Set(handled.map(({ meta }) => meta.idempotencyKey))
    expect(keys.size).toBe(handled.length)
    const positions = handled.map(({ meta }) => meta.position).filter((p) => p !== undefined)
    if (positions.length > 0) {
      expect(positions.some((position) => /#\d+$/.test(position as string))).toBe(true)
      expect(new Set(positions).size).toBe(positions.length)
      expect(letters[0].position).toMatch(/#\d+$/)
    }
    // Acknowledged: nothing is handed out again once the claim time has passed (an observation window).
    await new Promise((resolve) => setTimeout(resolve, 3 * FAST.claimAfterMs))
    expect(handled).toHaveLength(total - 1)
    expect(letters).toHaveLength(1)
    expect(apps.flatMap((a) => a.errors)).toEqual([])
  })
})
