/**
 * The conformance suite: every adapter runs these tests against its real broker.
 * Call `conformanceSuite(target)` inside a test file; see test/memory.test.ts.
 */
import type { HookContext } from '@feathersjs/feathers'
import { SYNC, SyncMessageError, type Payload, type SyncOptions } from '../src/index'
import { Sealer } from '../src/protocol/security'
import { busConformanceSuite } from './bus-conformance'
import { barrier, createFleet, teardownFleet, uniqueKey, waitFor, type TestApp } from './helpers/apps'

export interface ConformanceTarget {
  /** Shown in test names, e.g. `redis`. */
  name: string
  /** Sync options for a fresh channel `key` (uri or client). */
  options(key: string): SyncOptions
  /** Publishes raw bytes on the channel `key` with the broker's own client, bypassing the library. */
  publishRaw(key: string, payload: string | Buffer): Promise<void>
  /** Serializers to run the suite with. @default ['json', 'bson'] */
  serializers?: readonly ('json' | 'bson')[]
  /** Open handles of the kinds this adapter creates, to check that teardown releases them. @default TCP sockets */
  openHandles?(): number
}

const tcpHandles = (): number =>
  process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap' || kind === 'TCPWRAP').length

export function conformanceSuite(target: ConformanceTarget): void {
  // The adapter-level suite first: the same adapter through the bus alone, no Feathers.
  busConformanceSuite(target)
  for (const serializer of target.serializers ?? ['json', 'bson']) {
    describe(`conformance: ${target.name} (${serializer})`, () => {
      let fleet: TestApp[] = []
      let key: string
      const start = async (count = 3, extra: SyncOptions = {}) => {
        key = uniqueKey(target.name)
        fleet = await createFleet(count, { ...target.options(key), serializer, ...extra })
        return fleet
      }

      afterEach(async () => {
        await teardownFleet(fleet)
        fleet = []
      })

      it('delivers every standard and custom event exactly once to every instance, with data and context', async () => {
        const [sender, ...others] = await start()
        const todos = sender.app.service('todos')
        const marker = uniqueKey('all')
        const item = await todos.create(
          { marker, text: 'one' },
          { query: { $select: undefined }, provider: 'rest' }
        )
        await todos.update(item.id, { marker, text: 'two' })
        await todos.patch(item.id, { text: 'three' })
        todos.emit('status', { marker, text: 'custom' })
        await todos.remove(item.id)
        await barrier(fleet, sender)
        for (const other of others) {
          for (const event of ['created', 'updated', 'patched', 'removed', 'status']) {
            expect(other.seen(event, marker)).toHaveLength(1)
          }
          const [created] = other.seen('created', marker)
          expect(created.data).toEqual({ marker, text: 'one', id: item.id })
          expect(created.context.app).toBe(other.app)
          expect(created.context.service).toBe(other.app.service('todos'))
          expect(created.context).toMatchObject({
            method: 'create',
            type: 'around',
            path: 'todos',
            event: 'created'
          })
          expect(created.context.result).toEqual(created.data)
          expect(created.context.params).toEqual({ query: {}, provider: 'rest' })
          expect(created.context.remote).toEqual({
            instanceId: sender.app.sync.instanceId,
            messageId: expect.any(Number)
          })
          const [patched] = other.seen('patched', marker)
          expect(patched.context).toMatchObject({ method: 'patch', id: item.id })
          expect(other.seen('status', marker)[0].data).toEqual({ marker, text: 'custom' })
        }
      })

      it("fires the sender's own listeners once, at once, with the real hook context", async () => {
        const [sender] = await start()
        const marker = uniqueKey('own')
        const secret = { accessToken: 'never-travels' }
        await sender.app.service('todos').create({ marker }, { authentication: secret })
        // Local delivery happened before the call returned, without any broker round trip.
        expect(sender.seen('created', marker)).toHaveLength(1)
        const [own] = sender.seen('created', marker)
        expect(own.context.remote).toBeUndefined()
        expect(own.context.params.authentication).toBe(secret)
        await barrier(fleet, sender)
        expect(sender.seen('created', marker)).toHaveLength(1)
      })

      it('keeps an event local when a hook sets context[SYNC] = false', async () => {
        const [sender, ...others] = await start()
        sender.app.service('todos').hooks({
          before: {
            create: [
              (context: HookContext) => {
                if (context.data.local) (context as HookContext & { [SYNC]?: boolean })[SYNC] = false
              }
            ]
          }
        })
        const marker = uniqueKey('local')
        await sender.app.service('todos').create({ marker, local: true })
        await barrier(fleet, sender)
        expect(sender.seen('created', marker)).toHaveLength(1)
        for (const other of others) expect(other.seen('created', marker)).toHaveLength(0)
      })

      it('drops garbage, wrong shapes, unknown paths and unknown events, reports them, and keeps delivering', async () => {
        const [sender, receiver] = await start(2)
        await target.publishRaw(key, 'this is {not a message')
        await target.publishRaw(key, Buffer.from([0xff, 0x00, 0x13, 0x37]))
        await target.publishRaw(key, '[1,2,3]')
        await target.publishRaw(key, JSON.stringify({ event: 'created', path: 'no-such-service', data: {} }))
        await target.publishRaw(key, JSON.stringify({ event: 'hacked', path: 'todos', data: {} }))
        await barrier(fleet, sender)
        await waitFor('the raw messages to be counted', () => {
          const { dropped } = receiver.app.sync.stats()
          const total = dropped.undecodable + dropped.shape + dropped.unknownPath + dropped.unknownEvent
          return total >= 5
        })
        const { dropped } = receiver.app.sync.stats()
        if (serializer === 'json') {
          expect(dropped).toMatchObject({ undecodable: 2, shape: 1, unknownPath: 1, unknownEvent: 1 })
        } else {
          // Under bson the JSON texts are undecodable too; nothing is delivered either way.
          expect(dropped.undecodable + dropped.shape).toBeGreaterThanOrEqual(3)
        }
        expect(receiver.errors.every((error) => error instanceof SyncMessageError)).toBe(true)
        // One report per kind at once; repeats of a kind wait for the storm summary.
        const reported = new Set(receiver.errors.map((error) => (error as SyncMessageError).reason))
        const counted = (['undecodable', 'shape', 'unknownPath', 'unknownEvent'] as const).filter(
          (reason) => dropped[reason] > 0
        )
        expect([...reported].sort()).toEqual([...counted].sort())
        expect(
          receiver.received.filter((r) => r.event === 'hacked' || r.data?.marker === undefined)
        ).toHaveLength(0)
      })

      it(
        serializer === 'bson' ? 'keeps Date and Buffer values' : 'turns Date values into ISO strings',
        async () => {
          const [sender, receiver] = await start(2)
          const marker = uniqueKey('date')
          const at = new Date('2026-01-02T03:04:05.678Z')
          // A custom event: the memory service itself would turn a Date result into a string.
          sender.app.service('todos').emit('status', { marker, at, bytes: Buffer.from('binary\u0000') })
          await waitFor('the dated event', () => receiver.seen('status', marker).length === 1)
          const { data } = receiver.seen('status', marker)[0]
          if (serializer === 'bson') {
            expect(data.at).toBeInstanceOf(Date)
            expect((data.at as Date).getTime()).toBe(at.getTime())
            expect(Buffer.isBuffer(data.bytes)).toBe(true)
            expect((data.bytes as Buffer).toString()).toBe('binary\u0000')
          } else {
            expect(data.at).toBe(at.toISOString())
          }
        }
      )

      it("emits in the broker's order on every instance, the sender too, with emitOrder 'broker'", async () => {
        const [sender, ...others] = await start(3, { emitOrder: 'broker' })
        const marker = uniqueKey('broker-order')
        const secret = { accessToken: 'local-only' }
        await sender.app.service('todos').create({ marker }, { authentication: secret })
        await barrier(fleet, sender)
        expect(sender.seen('created', marker)).toHaveLength(1)
        // The sender still gets its own real context back, not a rebuilt one.
        expect(sender.seen('created', marker)[0].context.params.authentication).toBe(secret)
        for (const other of others) expect(other.seen('created', marker)).toHaveLength(1)
      })

      it('with secrets, delivers signed traffic and drops unsigned, forged, tampered, replayed and oversize messages', async () => {
        const secret = 'conformance-secret-of-at-least-32-bytes'
        const maxMessageBytes = 4_096
        // Every drop reported one by one (no storm summary), so each one's reason can be checked.
        const [sender, receiver] = await start(2, {
          secrets: [secret],
          maxMessageBytes,
          errorReportIntervalMs: 0
        })
        const captured: Payload[] = []
        sender.app.on('sync-out', (payload: Payload) => captured.push(payload))
        const marker = uniqueKey('signed')
        await sender.app.service('todos').create({ marker })
        await waitFor('the signed event', () => receiver.seen('created', marker).length === 1)
        const genuine = Buffer.from(captured[0] as Uint8Array)
        const unsigned = { event: 'created', path: 'todos', data: { marker: 'unsigned' }, context: null }
        const attacker = new Sealer({ secrets: ['not-the-secret-but-also-32-bytes-long'] })
        // One flipped bit in the body (after the 49-byte header): the signature no longer matches.
        const tampered = Buffer.from(genuine)
        tampered[60] ^= 0x01
        await target.publishRaw(key, JSON.stringify(unsigned))
        await target.publishRaw(key, attacker.seal(JSON.stringify(unsigned), '0badc0de0badc0de', 1))
        await target.publishRaw(key, tampered)
        await target.publishRaw(key, genuine)
        await target.publishRaw(key, Buffer.concat([genuine, Buffer.alloc(maxMessageBytes)]))
        await barrier(fleet, sender)
        await waitFor('the refusals to be counted', () => {
          const { unauthenticated, replayed, oversize } = receiver.app.sync.stats().dropped
          return unauthenticated === 3 && replayed === 1 && oversize === 1
        })
        expect(receiver.app.sync.stats().dropped).toMatchObject({ undecodable: 0, shape: 0, stale: 0 })
        const reasons = receiver.errors.map((error) => (error as SyncMessageError).reason)
        // The replay is counted but not reported: it cannot be told from an adapter's resend.
        expect(reasons.sort()).toEqual(['oversize', 'unauthenticated', 'unauthenticated', 'unauthenticated'])
        expect(receiver.seen('created', 'unsigned')).toHaveLength(0)
        expect(receiver.seen('created', marker)).toHaveLength(1)
      })

      it('releases every connection on teardown, and teardown twice is harmless', async () => {
        const count = target.openHandles ?? tcpHandles
        const before = count()
        await start(2)
        await teardownFleet(fleet)
        await teardownFleet(fleet)
        await Promise.all(fleet.map(({ app }) => app.sync.close()))
        expect(fleet.every(({ app }) => app.sync.status === 'closed')).toBe(true)
        await waitFor('connections to close', () => count() <= before, 5_000)
      })
    })
  }
}
