/**
 * The conformance suite through the Fastify plugin: real Fastify instances in this process, talking only
 * through `fastify.fanout` (publish, subscribe, subscribe with `{ group }`, status, stats, close). The
 * bus beneath runs test/bus-conformance.ts for every adapter; this proves the plugin's path on top.
 */
import type { FastifyInstance } from 'fastify'
import type { SyncError } from '../src/errors'
import type { FanoutMeta, FanoutOptions } from '../src/fastify'
import { uniqueKey, waitFor } from './helpers/apps'
import { loggedFanout } from './helpers/fastify-app'
import type { Tick } from './helpers/fastify-topics'

/** What the suite needs of a broker. */
export interface FanoutTarget {
  /** Shown in test names. */
  name: string
  /** Options for a fresh channel `key`. */
  options(key: string): FanoutOptions
  /** Whether the broker keeps a log (durable delivery and consumer groups). */
  durable: boolean
}

interface Instance {
  app: FastifyInstance
  got: { tick: Tick; meta: FanoutMeta<'fleet.tick'> }[]
  errors: SyncError[]
  statuses: string[]
}

const of = (instance: Instance, marker: string) => instance.got.filter((g) => g.tick.marker === marker)
const numbers = (instance: Instance, marker: string) => of(instance, marker).map((g) => g.tick.n)

export function fanoutConformanceSuite(target: FanoutTarget): void {
  describe(`fanout conformance: ${target.name}`, () => {
    let apps: FastifyInstance[] = []

    async function start(options: FanoutOptions): Promise<Instance> {
      const { app } = await loggedFanout(options, (started) => apps.push(started))
      const instance: Instance = { app, got: [], errors: [], statuses: [] }
      app.fanout.on('error', (error) => instance.errors.push(error))
      app.fanout.on('status', ({ status }) => instance.statuses.push(status))
      app.fanout.subscribe('fleet.tick', (tick, meta) => void instance.got.push({ tick, meta }))
      return instance
    }
    const fleet = async (count: number, extra: Partial<FanoutOptions> = {}) => {
      const key = uniqueKey(`fanout-${target.name}`)
      return Promise.all(Array.from({ length: count }, () => start({ ...target.options(key), ...extra })))
    }

    afterEach(async () => {
      await Promise.all(apps.map((app) => app.close()))
      apps = []
    })

    it('hands each message once, in order, to every instance, the publisher first and at once', async () => {
      const [sender, ...others] = await fleet(3)
      const marker = uniqueKey('order')
      for (let n = 0; n < 50; n++) expect(sender.app.fanout.publish('fleet.tick', { marker, n })).toBe(true)
      // local-first: the publisher's handler ran inside publish().
      expect(numbers(sender, marker)).toEqual([...Array(50).keys()])
      await waitFor('50 messages at each other instance', () =>
        others.every((o) => of(o, marker).length >= 50)
      )
      for (const other of others) {
        expect(numbers(other, marker)).toEqual([...Array(50).keys()])
        expect(
          of(other, marker).every((g) => g.meta.sender === sender.app.fanout.instanceId && !g.meta.own)
        ).toBe(true)
      }
      expect(of(sender, marker).every((g) => g.meta.own)).toBe(true)
      expect([sender, ...others].flatMap((i) => i.errors)).toEqual([])
      expect(sender.app.fanout.stats()).toMatchObject({ published: 50, publishErrors: 0 })
    })

    it("with emitOrder 'broker', hands the publisher its own message back from the broker, once", async () => {
      const [sender, other] = await fleet(2, { emitOrder: 'broker' })
      const marker = uniqueKey('broker-order')
      sender.app.fanout.publish('fleet.tick', { marker, n: 0 })
      expect(of(sender, marker)).toHaveLength(0)
      await waitFor(
        'the message at both',
        () => of(sender, marker).length === 1 && of(other, marker).length === 1
      )
      expect(of(sender, marker)[0].meta.own).toBe(true)
      expect(of(other, marker)[0].meta.own).toBe(false)
    })

    it('reports ready, then closing and closed when Fastify closes', async () => {
      const [only] = await fleet(1)
      expect(only.app.fanout.status).toBe('ready')
      await only.app.close()
      expect(only.app.fanout.status).toBe('closed')
      expect(only.statuses.slice(-2)).toEqual(['closing', 'closed'])
      expect(only.app.fanout.stats().dropped.unsent).toBe(0)
    })

    it('refuses an oversize message before it leaves: false, counted, reported, no handler called', async () => {
      const [sender] = await fleet(1, { maxMessageBytes: 1_024 })
      const marker = uniqueKey('big')
      expect(sender.app.fanout.publish('fleet.tick', { marker: marker + 'x'.repeat(2_000), n: 0 })).toBe(
        false
      )
      expect(sender.got).toHaveLength(0)
      expect(sender.app.fanout.stats()).toMatchObject({ published: 0, dropped: { oversize: 1 } })
      expect(sender.errors.map((e) => e.code)).toEqual(['SYNC_OVERSIZE'])
    })

    it('with secrets, hands signed messages only to instances that share the secret', async () => {
      const secret = 'fanout-conformance-secret-32-bytes!!'
      const key = uniqueKey(`fanout-${target.name}-signed`)
      const sender = await start({ ...target.options(key), secrets: [secret] })
      const receiver = await start({ ...target.options(key), secrets: [secret] })
      const stranger = await start({
        ...target.options(key),
        secrets: ['another-secret-that-is-32-bytes-long']
      })
      const marker = uniqueKey('signed')
      sender.app.fanout.publish('fleet.tick', { marker, n: 0 })
      await waitFor('the signed message', () => of(receiver, marker).length === 1)
      await waitFor(
        'the stranger to refuse it',
        () => stranger.app.fanout.stats().dropped.unauthenticated === 1
      )
      expect(of(stranger, marker)).toHaveLength(0)
    })

    const itDurable = target.durable ? it : it.skip
    itDurable(
      'with { group }, handles each message on one instance while every plain handler gets it',
      async () => {
        const instances = await fleet(3, { durable: true })
        const handled: number[][] = instances.map(() => [])
        const marker = uniqueKey('group')
        instances.forEach((instance, i) =>
          instance.app.fanout.subscribe(
            'fleet.tick',
            (tick) => void (tick.marker === marker && handled[i].push(tick.n)),
            { group: 'conformance' }
          )
        )
        const joined = async () =>
          (await Promise.all(instances.map((i) => i.app.fanout.groupStats()))).every((s) => s[0]?.joined)
        const deadline = Date.now() + 20_000
        while (!(await joined())) {
          if (Date.now() > deadline) throw new Error(`${target.name}: not every instance joined the group`)
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        for (let n = 0; n < 30; n++) instances[n % 3].app.fanout.publish('fleet.tick', { marker, n })
        await waitFor(
          () => `30 handled in the group and seen everywhere; handled ${handled.map((h) => h.length)}`,
          () => handled.flat().length >= 30 && instances.every((i) => of(i, marker).length >= 30),
          20_000
        )
        expect(handled.flat().sort((a, b) => a - b)).toEqual([...Array(30).keys()])
        for (const instance of instances) expect(of(instance, marker)).toHaveLength(30)
      }
    )
  })
}
