/**
 * The adapter-level conformance suite: drives an adapter through the bus with plain callbacks, no
 * Feathers. The Feathers suite (test/conformance.ts) runs it first for every adapter.
 */
import { createBus, type BusOptions } from '../src/bus'
import type { Bus, Delivery } from '../src/engine/bus'
import type { SyncError } from '../src/errors'
import { uniqueKey, waitFor } from './helpers/apps'

/** What the suite needs of an adapter under test. */
export interface BusTarget {
  /** Shown in test names. */
  name: string
  /** Options for a fresh channel `key`. */
  options(key: string): BusOptions
}

interface Member {
  bus: Bus
  got: Delivery[]
  errors: SyncError[]
  statuses: string[]
}

function member(options: BusOptions): Member {
  const errors: SyncError[] = []
  const statuses: string[] = []
  const bus = createBus(options, {
    error: (error) => errors.push(error),
    status: (event) => statuses.push(event.status)
  })
  const got: Delivery[] = []
  bus.subscribe((delivery) => got.push(delivery))
  return { bus, got, errors, statuses }
}

const markersOf = (m: Member, marker: string) =>
  m.got.filter((d) => (d.envelope.data as { marker?: string }).marker === marker)

export function busConformanceSuite(target: BusTarget): void {
  describe(`bus conformance: ${target.name}`, () => {
    let members: Member[] = []
    const start = async (count: number, extra: Partial<BusOptions> = {}) => {
      const key = uniqueKey(`bus-${target.name}`)
      members = Array.from({ length: count }, () => member({ ...target.options(key), ...extra }))
      await Promise.all(members.map((m) => m.bus.ready))
      return members
    }

    afterEach(async () => {
      await Promise.all(members.map((m) => m.bus.close()))
      members = []
    })

    it('delivers each message once, in order, to every other member and not back to the sender', async () => {
      const [sender, ...others] = await start(3)
      const marker = uniqueKey('order')
      for (let n = 0; n < 50; n++) {
        expect(sender.bus.publish({ event: 'tick', path: 'clock', data: { marker, n }, context: null })).toBe(
          true
        )
      }
      await waitFor('50 messages at each other member', () =>
        others.every((o) => markersOf(o, marker).length >= 50)
      )
      for (const other of others) {
        expect(markersOf(other, marker).map((d) => (d.envelope.data as { n: number }).n)).toEqual([
          ...Array(50).keys()
        ])
        expect(
          markersOf(other, marker).every((d) => d.envelope.sender === sender.bus.instanceId && !d.own)
        ).toBe(true)
      }
      expect(markersOf(sender, marker)).toHaveLength(0)
      expect(members.flatMap((m) => m.errors)).toEqual([])
      expect(sender.bus.stats()).toMatchObject({ published: 50, publishErrors: 0 })
    })

    it('hands the sender its own messages back with echo on', async () => {
      const [sender, other] = await start(2, { echo: true })
      const marker = uniqueKey('echo')
      sender.bus.publish({ event: 'tick', path: 'clock', data: { marker }, context: null })
      await waitFor(
        'the echo and the delivery',
        () => markersOf(sender, marker).length === 1 && markersOf(other, marker).length === 1
      )
      expect(markersOf(sender, marker)[0].own).toBe(true)
      expect(markersOf(other, marker)[0].own).toBe(false)
    })

    it('reports ready, then closed, and refuses nothing it accepted before close', async () => {
      const [only] = await start(1)
      expect(only.bus.status).toBe('ready')
      expect(only.statuses).toEqual(['ready'])
      await only.bus.close()
      expect(only.bus.status).toBe('closed')
      expect(only.statuses).toEqual(['ready', 'closing', 'closed'])
      expect(only.bus.stats().dropped.unsent).toBe(0)
    })

    it('drops an oversize message before it leaves, counted and reported with its size', async () => {
      const [sender] = await start(1, { maxMessageBytes: 1_024 })
      const sent = sender.bus.publish({ event: 'big', path: 'files', data: 'x'.repeat(2_000), context: null })
      expect(sent).toBe(false)
      expect(sender.bus.stats()).toMatchObject({ published: 0, dropped: { oversize: 1 } })
      expect(sender.errors.map((e) => e.code)).toEqual(['SYNC_OVERSIZE'])
    })

    it('with secrets, delivers signed messages only to members that share the secret', async () => {
      const key = uniqueKey(`bus-${target.name}-signed`)
      const secret = 'bus-conformance-secret-of-32-bytes!!'
      const [sender, receiver] = (members = [
        member({ ...target.options(key), secrets: [secret] }),
        member({ ...target.options(key), secrets: [secret] })
      ])
      const stranger = member({ ...target.options(key), secrets: ['another-secret-that-is-32-bytes-long'] })
      members.push(stranger)
      await Promise.all(members.map((m) => m.bus.ready))
      const marker = uniqueKey('signed')
      sender.bus.publish({ event: 'tick', path: 'clock', data: { marker }, context: null })
      await waitFor('the signed message', () => markersOf(receiver, marker).length === 1)
      await waitFor('the stranger to refuse it', () => stranger.bus.stats().dropped.unauthenticated === 1)
      expect(markersOf(stranger, marker)).toHaveLength(0)
    })
  })
}
