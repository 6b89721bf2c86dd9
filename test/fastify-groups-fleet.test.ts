/**
 * Run-once handling across processes: three Fastify instances, each forked on its own, on the shared
 * Redis and NATS of the test run, each subscribing `fleet.tick` both plainly and in the consumer group
 * `ticks`. Messages published on all three are handled once in the group, spread over the members, while
 * every instance's plain subscriber gets every one of them.
 */
import { uniqueKey } from './helpers/apps'
import { killInstances, pollUntil, startInstance, type FastifyProcess } from './helpers/fastify-fleet'

const BROKERS = [
  { name: 'redis', url: process.env.FANOUT_REDIS_URL ?? '' },
  { name: 'nats', url: process.env.FANOUT_NATS_URL ?? '' }
]
const PER_PUBLISHER = 100
const TOTAL = 3 * PER_PUBLISHER

afterAll(async () => {
  await killInstances()
})

/** Each instance's plain and group counts of `marker`, status, group stats and counters. */
async function fleetState(fleet: FastifyProcess[], marker: string): Promise<string> {
  const lines = await Promise.all(
    fleet.map(async (instance) => {
      const [seen, handled, groups, info] = await Promise.all([
        instance.count(marker),
        instance.handled(marker),
        instance.groups(),
        instance.info()
      ])
      return (
        `instance ${instance.instanceId}: seen ${seen}, handled ${handled.length}, ${info.status}, ` +
        `groups ${JSON.stringify(groups)}, stats ${JSON.stringify(info.stats)}, errors ${info.errors.join('; ')}`
      )
    })
  )
  return lines.join('\n')
}

for (const broker of BROKERS) {
  const describeBroker = broker.url ? describe : describe.skip

  describeBroker(`Fastify instances in a consumer group on ${broker.name}`, () => {
    afterEach(async () => {
      await killInstances()
    })

    it(`handles each of ${TOTAL} messages once in the group, spread over the members, while every instance sees all`, async () => {
      const key = uniqueKey(`fastify-group-${broker.name}`)
      // Each message takes 20 ms with at most 5 held: one member alone would need over a second.
      const group = { group: 'ticks', prefetch: 5, workMs: 20 }
      const fleet = await Promise.all(
        [0, 1, 2].map(() => startInstance({ uri: broker.url, key, durable: true }, 60_000, group))
      )
      const marker = uniqueKey('group')
      const state = () => fleetState(fleet, marker)
      // A new group starts at the log's tail: publish once every member has joined.
      await pollUntil(
        'every instance to join the group',
        async () => (await Promise.all(fleet.map((i) => i.groups()))).every((g) => g[0]?.joined === true),
        state
      )
      const published = await Promise.all(fleet.map((instance) => instance.publish(marker, PER_PUBLISHER)))
      expect(published).toEqual([PER_PUBLISHER, PER_PUBLISHER, PER_PUBLISHER])

      const handledTotal = async () =>
        (await Promise.all(fleet.map((i) => i.handled(marker)))).reduce((sum, list) => sum + list.length, 0)
      await pollUntil(
        `${TOTAL} handled in the group, nothing pending, and ${TOTAL} seen on every instance`,
        async () => {
          const seen = await Promise.all(fleet.map((i) => i.count(marker)))
          const groups = await Promise.all(fleet.map((i) => i.groups()))
          return (
            seen.every((count) => count >= TOTAL) &&
            groups.every((g) => g[0]?.pending === 0) &&
            (await handledTotal()) >= TOTAL
          )
        },
        state,
        60_000
      )

      const handled = await Promise.all(fleet.map((instance) => instance.handled(marker)))
      const keys = handled.flat().map((tick) => `${tick.sender}:${tick.id}`)
      // Once each: as many handled as published, no key twice, and every publisher's every number.
      expect(keys).toHaveLength(TOTAL)
      expect(new Set(keys).size).toBe(TOTAL)
      for (const publisher of fleet) {
        const numbers = handled
          .flat()
          .filter((tick) => tick.sender === publisher.instanceId)
          .map((tick) => tick.n)
          .sort((a, b) => a - b)
        expect(numbers).toEqual([...Array(PER_PUBLISHER).keys()])
      }
      // Spread: every member handled some of them.
      expect(handled.map((list) => list.length > 0)).toEqual([true, true, true])
      // The plain subscriber on every instance got all of them, once.
      for (const instance of fleet) {
        const seen = (await instance.seen(marker)).map((tick) => `${tick.sender}:${tick.id}`)
        expect(seen).toHaveLength(TOTAL)
        expect(new Set(seen).size).toBe(TOTAL)
      }
      for (const instance of fleet) expect((await instance.info()).errors).toEqual([])
      const stats = (await Promise.all(fleet.map((i) => i.groups()))).map((g) => g[0])
      expect(stats.reduce((sum, s) => sum + s.handled, 0)).toBe(TOTAL)
      expect(stats.every((s) => s.retried === 0 && s.deadLettered === 0)).toBe(true)
      expect(await Promise.all(fleet.map((instance) => instance.stop()))).toEqual([0, 0, 0])
    }, 120_000)
  })
}
