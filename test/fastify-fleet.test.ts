/**
 * The Fastify plugin across processes: real Fastify instances, each forked on its own, on the shared
 * Redis and NATS of the test run. Publish on one; the handlers on the others get each message once, in
 * order; durable delivery hands a restarted named instance what it missed.
 */
import { uniqueKey } from './helpers/apps'
import { killInstances, startInstance, type FastifyProcess } from './helpers/fastify-fleet'
import type { SeenTick } from './helpers/fastify-topics'

const BROKERS = [
  { name: 'redis', url: process.env.FANOUT_REDIS_URL ?? '' },
  { name: 'nats', url: process.env.FANOUT_NATS_URL ?? '' }
]
const WAIT_MS = 30_000

const numbers = (ticks: SeenTick[]) => ticks.map((tick) => tick.n)
const range = (count: number) => [...Array(count).keys()]

/**
 * Polls (bounded) until every instance has at least `count` ticks of `marker`; on timeout the error says
 * what each instance had, its status and its counters.
 */
async function waitTicks(instances: FastifyProcess[], marker: string, count: number): Promise<void> {
  const deadline = Date.now() + WAIT_MS
  for (;;) {
    const had = await Promise.all(instances.map((instance) => instance.count(marker)))
    if (had.every((seen) => seen >= count)) return
    if (Date.now() > deadline) {
      const infos = await Promise.all(instances.map((instance) => instance.info()))
      const state = infos.map(
        (info, i) =>
          `instance ${info.instanceId}: ${had[i]} ticks, ${info.status}, ${JSON.stringify(info.stats)}`
      )
      throw new Error(`Timed out waiting for ${count} ticks of ${marker}:\n${state.join('\n')}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Publishes one more tick from `sender` and waits for it everywhere: then every earlier one has arrived. */
async function barrier(instances: FastifyProcess[], sender: FastifyProcess): Promise<void> {
  const marker = uniqueKey('barrier')
  await sender.publish(marker, 1)
  await waitTicks(instances, marker, 1)
}

afterAll(async () => {
  await killInstances()
})

for (const broker of BROKERS) {
  const describeBroker = broker.url ? describe : describe.skip

  describeBroker(`Fastify instances in separate processes on ${broker.name}`, () => {
    let fleet: FastifyProcess[] = []

    beforeAll(async () => {
      const key = uniqueKey(`fastify-${broker.name}`)
      fleet = await Promise.all([0, 1, 2].map(() => startInstance({ uri: broker.url, key })))
    }, 120_000)

    afterAll(async () => {
      const codes = await Promise.all(fleet.map((instance) => instance.stop()))
      // onClose closed the bus and nothing kept the process alive.
      expect(codes).toEqual([0, 0, 0])
    }, 30_000)

    it('hands each message once, in order, to the handlers of every other instance', async () => {
      const [sender, ...others] = fleet
      const marker = uniqueKey('order')
      expect(await sender.publish(marker, 200)).toBe(200)
      await waitTicks(others, marker, 200)
      await barrier(fleet, sender)
      for (const other of others) {
        const ticks = await other.seen(marker)
        expect(numbers(ticks)).toEqual(range(200))
        expect(ticks.every((tick) => tick.sender === sender.instanceId && !tick.own)).toBe(true)
        // The publisher's numbers, increasing: a stable key with the sender.
        expect(ticks.every((tick, i) => i === 0 || tick.id > ticks[i - 1].id)).toBe(true)
      }
      // local-first: the publisher's own handler got each one at once, marked as its own.
      const own = await sender.seen(marker)
      expect(numbers(own)).toEqual(range(200))
      expect(own.every((tick) => tick.own)).toBe(true)
      for (const instance of fleet) expect((await instance.info()).errors).toEqual([])
    }, 60_000)

    it('keeps each publisher’s order when two publish at once', async () => {
      const [a, b, c] = fleet
      const [markerA, markerB] = [uniqueKey('a'), uniqueKey('b')]
      await Promise.all([a.publish(markerA, 100), b.publish(markerB, 100)])
      await waitTicks([c, b], markerA, 100)
      await waitTicks([c, a], markerB, 100)
      await Promise.all([barrier(fleet, a), barrier(fleet, b)])
      expect(numbers(await c.seen(markerA))).toEqual(range(100))
      expect(numbers(await c.seen(markerB))).toEqual(range(100))
      expect(numbers(await b.seen(markerA))).toEqual(range(100))
      expect(numbers(await a.seen(markerB))).toEqual(range(100))
    }, 60_000)

    it('calls no handler for a topic it does not subscribe', async () => {
      const [sender, other] = fleet
      const marker = uniqueKey('other-topic')
      const before = (await other.info()).stats.delivered
      expect(await sender.publish(marker, 5, 'fleet.other')).toBe(5)
      await barrier(fleet, sender)
      expect(await other.seen(marker)).toEqual([])
      // Only the barrier reached a handler.
      expect((await other.info()).stats.delivered).toBe(before + 1)
    }, 60_000)
  })

  describeBroker(`Fastify instances with emitOrder 'broker' on ${broker.name}`, () => {
    afterEach(async () => {
      await killInstances()
    })

    /** Three instances publish 50 each at once; resolves with what each saw, as `sender:id` lists. */
    async function publishFromAll(
      durable: boolean
    ): Promise<{ fleet: FastifyProcess[]; orders: string[][]; marker: string }> {
      const key = uniqueKey(`fastify-order-${broker.name}`)
      const fleet = await Promise.all(
        [0, 1, 2].map(() => startInstance({ uri: broker.url, key, emitOrder: 'broker', durable }))
      )
      const marker = uniqueKey('total')
      await Promise.all(fleet.map((instance) => instance.publish(marker, 50)))
      await waitTicks(fleet, marker, 150)
      const orders = await Promise.all(
        fleet.map(async (instance) => (await instance.seen(marker)).map((t) => `${t.sender}:${t.id}`))
      )
      return { fleet, orders, marker }
    }

    // One order for all: Redis's server handles one command at a time, so every subscriber gets one
    // sequence. NATS core keeps each publisher's order only (NATS FAQ, "message ordering"): messages of
    // two publishers may interleave differently at two subscribers, so there the check is per publisher.
    const singleOrder = broker.name === 'redis'

    it(`gives every instance, the publishers too, ${singleOrder ? 'the same order of messages' : "each publisher's order"}`, async () => {
      const { fleet, orders, marker } = await publishFromAll(false)
      for (const order of orders) {
        expect(order).toHaveLength(150)
        expect(new Set(order)).toEqual(new Set(orders[0]))
        for (const instance of fleet) {
          const ids = order
            .filter((name) => name.startsWith(`${instance.instanceId}:`))
            .map((name) => Number(name.split(':')[1]))
          expect(ids).toHaveLength(50)
          expect(ids.every((id, i) => i === 0 || id > ids[i - 1])).toBe(true)
        }
        if (singleOrder) expect(order).toEqual(orders[0])
      }
      // The publishers got their own messages back from the broker.
      const own = await fleet[0].seen(marker)
      expect(own.filter((tick) => tick.own)).toHaveLength(50)
      await Promise.all(fleet.map((instance) => instance.stop()))
    }, 120_000)

    it("gives every instance the log's one order in durable mode, with the same positions", async () => {
      const { fleet, orders, marker } = await publishFromAll(true)
      expect(orders[0]).toHaveLength(150)
      expect(new Set(orders[0]).size).toBe(150)
      expect(orders[1]).toEqual(orders[0])
      expect(orders[2]).toEqual(orders[0])
      const positions = await Promise.all(
        fleet.map(async (instance) => (await instance.seen(marker)).map((tick) => tick.position))
      )
      expect(new Set(positions[0]).size).toBe(150)
      expect(positions[1]).toEqual(positions[0])
      expect(positions[2]).toEqual(positions[0])
      await Promise.all(fleet.map((instance) => instance.stop()))
    }, 120_000)
  })

  describeBroker(`Fastify instances with durable delivery on ${broker.name}`, () => {
    afterEach(async () => {
      await killInstances()
    })

    it('hands a named instance, restarted, what was published while it was away, with positions', async () => {
      const key = uniqueKey(`fastify-durable-${broker.name}`)
      const named = { uri: broker.url, key, durable: { consumerName: 'history-1' } }
      const publisher = await startInstance({ uri: broker.url, key, durable: true })
      let away = await startInstance(named)
      const before = uniqueKey('before')
      await publisher.publish(before, 10)
      await waitTicks([away], before, 10)
      const positions = (await away.seen(before)).map((tick) => tick.position)
      expect(positions.every((position) => typeof position === 'string')).toBe(true)
      expect(new Set(positions).size).toBe(10)
      expect(await away.stop()).toBe(0)

      const missed = uniqueKey('missed')
      expect(await publisher.publish(missed, 30)).toBe(30)
      away = await startInstance(named)
      await waitTicks([away], missed, 30)
      await barrier([away], publisher)
      expect(numbers(await away.seen(missed))).toEqual(range(30))
      // It resumed after what it had handled: nothing from before its stop came again.
      expect(await away.seen(before)).toEqual([])
      await Promise.all([publisher.stop(), away.stop()])
    }, 120_000)
  })
}
