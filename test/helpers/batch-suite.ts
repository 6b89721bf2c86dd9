/**
 * Batched frames on one broker: batched and unbatched instances mixed on one channel, ordering, signing,
 * oversize handling and bad frames. Each broker's file gives a raw tap (every broker message on the
 * channel, as the broker delivers it) and a raw publisher.
 */
import type { Payload, SyncOptions } from '../../src/index'
import { isFrame, packFrames, unpackFrame } from '../../src/protocol/batch'
import { Sealer } from '../../src/protocol/security'
import { barrier, createFleet, teardownFleet, uniqueKey, waitFor, type TestApp } from './apps'
import { fleetState } from './fleet-state'

export interface BatchTarget {
  name: string
  options(key: string): SyncOptions
  /** Collects every broker message on `key` from now on; resolves once subscribed. */
  tap(key: string): Promise<{ messages: Payload[]; close(): Promise<void> }>
  /** Publishes bytes on `key` with the broker's own client. */
  publishRaw(key: string, payload: Buffer): Promise<void>
}

const BIG = { maxMessages: 1_000, maxBytes: 1_000_000 }

/** The markers of `sender`'s `created` events that `member` saw, in arrival order. */
const orderSeen = (member: TestApp, prefix: string): string[] =>
  member.received
    .filter((r) => r.event === 'created' && String(r.data?.marker).startsWith(prefix))
    .map((r) => String(r.data.marker))

/** Creates `count` todos in one burst (their events leave in one tick); markers `${prefix}-${i}`. */
async function burst(member: TestApp, prefix: string, count: number, extra = {}): Promise<string[]> {
  const markers = Array.from({ length: count }, (_, i) => `${prefix}-${i}`)
  await Promise.all(markers.map((marker) => member.app.service('todos').create({ marker, ...extra })))
  return markers
}

export function batchSuite(target: BatchTarget): void {
  describe(`batched frames on ${target.name}`, () => {
    let fleet: TestApp[] = []
    let tap: Awaited<ReturnType<BatchTarget['tap']>> | undefined
    let key: string
    const start = async (options: SyncOptions[]): Promise<TestApp[]> => {
      key = uniqueKey(`batch-${target.name}`)
      tap = await target.tap(key)
      const apps = await Promise.all(
        options.map((extra) => createFleet(1, { ...target.options(key), ...extra }))
      )
      fleet = apps.flat()
      return fleet
    }
    const state = () => fleetState(fleet)
    const frames = () => tap?.messages.filter((message) => isFrame(message)) ?? []

    afterEach(async () => {
      await teardownFleet(fleet)
      fleet = []
      await tap?.close()
      tap = undefined
    })

    it('batched and unbatched instances on one channel deliver every event to each other, once and in order', async () => {
      const [a, b, plain] = await start([{ batch: true }, { batch: BIG }, {}])
      const count = 60
      // What `sync-in` listeners (feathers-sync style code) see: one message at a time, never a frame.
      const inbound: Payload[] = []
      plain.app.on('sync-in', (payload: Payload) => inbound.push(payload))
      const sent = await Promise.all([
        burst(a, 'from-a', count),
        burst(b, 'from-b', count),
        burst(plain, 'from-plain', count)
      ])
      const prefixes = ['from-a', 'from-b', 'from-plain']
      await waitFor(
        () => `every event everywhere; ${state()}`,
        () => fleet.every((member) => prefixes.every((prefix) => orderSeen(member, prefix).length >= count))
      )
      await Promise.all(fleet.map((member) => barrier(fleet, member)))
      // Each instance, its own events included (local first), saw each sender's events once, in send order.
      for (const member of fleet)
        prefixes.forEach((prefix, i) => expect(orderSeen(member, prefix)).toEqual(sent[i]))
      // The batched senders' bursts travelled in frames; the unbatched one's as single messages.
      const framed = frames().flatMap((frame) => unpackFrame(frame) as Buffer[])
      expect(frames().length).toBeGreaterThan(0)
      expect(framed.length).toBeGreaterThanOrEqual(2 * count)
      expect(tap?.messages.length).toBeLessThan(3 * count)
      for (const member of fleet)
        expect(member.app.sync.stats().dropped).toMatchObject({ shape: 0, undecodable: 0 })
      expect(inbound.filter((payload) => isFrame(payload))).toEqual([])
      expect(inbound.length).toBeGreaterThanOrEqual(2 * count + 2)
      // Stats count events, not frames.
      expect(a.app.sync.stats().published).toBe(count + 1)
      expect(plain.app.sync.stats().received).toBeGreaterThanOrEqual(2 * count + 2)
    })

    it('splits a tick bigger than the limits into several frames, and drops only the oversize event', async () => {
      const maxMessageBytes = 4_096
      const [sender, receiver] = await start([
        { batch: { maxMessages: 8 }, maxMessageBytes, errorReportIntervalMs: 0 },
        { maxMessageBytes, errorReportIntervalMs: 0 }
      ])
      const todos = sender.app.service('todos')
      const markers = Array.from({ length: 40 }, (_, i) => `split-${i}`)
      // One tick: 40 events of about 400 bytes each, and one too large to travel at all in the middle,
      // emitted synchronously (creates would spread over several ticks on a loaded machine).
      const emit = (marker: string, size: number) => todos.emit('created', { marker, text: 'x'.repeat(size) })
      markers.slice(0, 20).forEach((marker) => emit(marker, 300))
      emit('huge', maxMessageBytes)
      markers.slice(20).forEach((marker) => emit(marker, 300))
      await barrier(fleet, sender)
      expect(orderSeen(receiver, 'split-')).toEqual(markers)
      expect(receiver.seen('created', 'huge')).toHaveLength(0)
      expect(sender.app.sync.stats().dropped.oversize).toBe(1)
      expect(sender.errors.map((error) => error.name)).toEqual(['SyncOversizeError'])
      // At most 8 events per frame, each frame within maxMessageBytes: at least 5 frames for 40 events.
      // On failure, the fleet's statuses and counters say whether the sender was away (its outbox
      // sends events one by one) or its tick was not split.
      expect({ frames: Math.min(frames().length, 5), fleet: state() }).toEqual({ frames: 5, fleet: state() })
      for (const frame of frames()) {
        expect((unpackFrame(frame) as Buffer[]).length).toBeLessThanOrEqual(8)
        expect(frame.byteLength).toBeLessThanOrEqual(maxMessageBytes)
      }
    })

    it('with secrets, delivers a valid batch and drops forged, tampered and replayed events inside a batch', async () => {
      const secrets = ['batch-secret-of-at-least-32-bytes-long']
      const [sender, receiver] = await start([
        { batch: true, secrets, errorReportIntervalMs: 0 },
        { batch: true, secrets, errorReportIntervalMs: 0 }
      ])
      const captured: Payload[] = []
      sender.app.on('sync-out', (payload: Payload) => captured.push(payload))
      const sent = await burst(sender, 'signed', 20)
      await waitFor(
        () => `the signed batch; ${state()}`,
        () => orderSeen(receiver, 'signed').length === 20
      )
      expect(orderSeen(receiver, 'signed')).toEqual(sent)
      expect(frames().length).toBeGreaterThan(0)
      const genuine = Buffer.from(captured[0] as Uint8Array)
      const tampered = Buffer.from(captured[1] as Uint8Array)
      tampered[60] ^= 0x01
      const forgedBody = JSON.stringify({
        event: 'created',
        path: 'todos',
        data: { marker: 'forged' },
        context: null
      })
      const forged = new Sealer({ secrets: ['not-the-secret-but-also-32-bytes-long'] }).seal(
        forgedBody,
        '0badc0de0badc0de',
        1
      )
      const [frame] = packFrames([forgedBody, forged, tampered, genuine], BIG)
      await target.publishRaw(key, frame as Buffer)
      await barrier(fleet, sender)
      await waitFor(
        () => `the refusals to be counted; ${state()}`,
        () => {
          const { unauthenticated, replayed } = receiver.app.sync.stats().dropped
          return unauthenticated === 3 && replayed === 1
        }
      )
      expect(receiver.seen('created', 'forged')).toHaveLength(0)
      expect(orderSeen(receiver, 'signed')).toEqual(sent)
    })

    it('drops a batch with garbage inside and a batch of the wrong shape, reports them, and goes on', async () => {
      const [sender, receiver] = await start([
        { batch: true, errorReportIntervalMs: 0 },
        { errorReportIntervalMs: 0 }
      ])
      const valid = JSON.stringify({
        event: 'created',
        path: 'todos',
        data: { marker: 'inside' },
        context: null
      })
      const [garbage] = packFrames(['{not json', valid, JSON.stringify([1, 2])], BIG)
      const cut = Buffer.from(garbage as Buffer).subarray(0, 12)
      const empty = Buffer.from([0x46, 0x46, 0x62, 0x81])
      for (const frame of [garbage as Buffer, cut, empty]) await target.publishRaw(key, frame)
      await barrier(fleet, sender)
      await waitFor(
        () => `the drops to be counted; ${state()}`,
        () => {
          const { undecodable, shape } = receiver.app.sync.stats().dropped
          return undecodable === 1 && shape === 3
        }
      )
      // The valid event beside the garbage was delivered; every drop reported with a typed error.
      expect(receiver.seen('created', 'inside')).toHaveLength(1)
      const reasons = receiver.errors.map((error) => `${error.name}:${(error as { reason?: string }).reason}`)
      expect(reasons.sort()).toEqual([
        'SyncMessageError:shape',
        'SyncMessageError:shape',
        'SyncMessageError:shape',
        'SyncMessageError:undecodable'
      ])
      expect(receiver.errors.some((error) => /cut off|claims/.test(error.message))).toBe(true)
      expect(receiver.app.sync.status).toBe('ready')
    })
  })
}
