/**
 * What every adapter with the group capability must do, at the adapter level with plain callbacks: the
 * group starts at the log's tail, each message goes to one member, at most `prefetch` unacknowledged per
 * member, what a member leaves unacknowledged goes to another after `claimAfterMs` with its delivery count,
 * a live member keeps what it holds, and a member that rejoins under its name gets its own back.
 */
import type { Adapter, DurableLog, GroupLog, GroupMembership, GroupMessage } from '../../src/adapter'
import type { SyncError } from '../../src/errors'
import { uniqueKey, waitFor } from './apps'

export type GroupAdapter = Adapter & DurableLog & GroupLog

interface Member {
  name: string
  got: GroupMessage[]
  membership: GroupMembership
  /** Acks at once when true. */
  acking: boolean
}

const text = (message: GroupMessage): string =>
  typeof message.payload === 'string' ? message.payload : Buffer.from(message.payload).toString()

export function groupConformance(name: string, make: (key: string) => GroupAdapter): void {
  describe(`${name} group capability`, () => {
    let open: GroupAdapter[] = []
    let errors: SyncError[] = []
    afterEach(async () => {
      await Promise.all(open.map((adapter) => adapter.close()))
      open = []
      errors = []
    })
    const adapter = async (key: string): Promise<GroupAdapter> => {
      const made = make(key)
      open.push(made)
      await made.connect({ status: () => undefined, error: (error) => errors.push(error) })
      return made
    }
    const join = async (
      on: GroupAdapter,
      name: string,
      options = { claimAfterMs: 400, prefetch: 5 },
      acking = true
    ): Promise<Member> => {
      const member: Member = { name, got: [], acking, membership: undefined as never }
      member.membership = await on.joinGroup('g', name, options, (message) => {
        member.got.push(message)
        if (member.acking) void message.ack()
      })
      return member
    }
    const publish = async (on: GroupAdapter, prefix: string, count: number): Promise<void> => {
      for (let i = 0; i < count; i++) await on.publishDurable(`${prefix}-${i}`)
    }
    const describeMembers = (members: Member[]) =>
      members
        .map((m) => `${m.name}: ${m.got.map((g) => `${text(g)}#${g.deliveries}`).join(',')}`)
        .join('; ') + ` errors: ${errors.map((e) => e.message).join(' | ')}`

    it('starts a new group at the tail and hands each message to one member', async () => {
      const key = uniqueKey('group')
      const writer = await adapter(key)
      await publish(writer, 'old', 3)
      const a = await join(await adapter(key), 'a')
      const b = await join(await adapter(key), 'b')
      await publish(writer, 'new', 40)
      const all = () => [...a.got, ...b.got]
      await waitFor(`40 messages (${describeMembers([a, b])})`, () => all().length >= 40)
      expect(all().map(text).sort()).toEqual(Array.from({ length: 40 }, (_, i) => `new-${i}`).sort())
      expect(a.got.length).toBeGreaterThan(0)
      expect(b.got.length).toBeGreaterThan(0)
      expect(all().every((m) => m.deliveries === 1)).toBe(true)
      expect(errors).toEqual([])
    })

    it('gives a member at most prefetch unacknowledged messages, the rest to the others', async () => {
      const key = uniqueKey('group')
      const writer = await adapter(key)
      const slow = await join(await adapter(key), 'slow', { claimAfterMs: 60_000, prefetch: 2 }, false)
      const fast = await join(await adapter(key), 'fast', { claimAfterMs: 60_000, prefetch: 2 })
      await publish(writer, 'm', 20)
      await waitFor(
        `20 messages (${describeMembers([slow, fast])})`,
        () => slow.got.length + fast.got.length >= 20
      )
      expect(slow.got.length).toBe(2)
      expect(fast.got.length).toBe(18)
      expect(await slow.membership.lag?.()).toBe(0)
    })

    it("hands a member's unacknowledged messages to another after claimAfterMs, with their count", async () => {
      const key = uniqueKey('group')
      const writer = await adapter(key)
      const leaving = await join(await adapter(key), 'leaving', { claimAfterMs: 300, prefetch: 3 }, false)
      await publish(writer, 'm', 3)
      await waitFor(`3 held (${describeMembers([leaving])})`, () => leaving.got.length === 3)
      await leaving.got[0].ack()
      const taker = await join(await adapter(key), 'taker', { claimAfterMs: 300, prefetch: 3 })
      const started = Date.now()
      await leaving.membership.leave()
      await waitFor(`2 claimed (${describeMembers([leaving, taker])})`, () => taker.got.length >= 2)
      expect(Date.now() - started).toBeGreaterThanOrEqual(250)
      expect(taker.got.map(text).sort()).toEqual(['m-1', 'm-2'])
      expect(taker.got.map((m) => m.deliveries)).toEqual([2, 2])
    })

    it('lets a live member keep what it holds past claimAfterMs', async () => {
      const key = uniqueKey('group')
      const writer = await adapter(key)
      const holder = await join(await adapter(key), 'holder', { claimAfterMs: 200, prefetch: 1 }, false)
      const other = await join(await adapter(key), 'other', { claimAfterMs: 200, prefetch: 1 }, false)
      await publish(writer, 'm', 1)
      await waitFor('one delivery', () => holder.got.length + other.got.length === 1)
      const [first] = [...holder.got, ...other.got]
      // Four claim periods without an ack: the live holder keeps it.
      const until = Date.now() + 800
      await waitFor('four claim periods', () => Date.now() >= until)
      expect(holder.got.length + other.got.length).toBe(1)
      await first.ack()
    })

    it('gives a member that rejoins under its name what it held, counted again', async () => {
      const key = uniqueKey('group')
      const writer = await adapter(key)
      const first = await join(await adapter(key), 'web-1', { claimAfterMs: 300, prefetch: 5 }, false)
      await publish(writer, 'm', 2)
      await waitFor('2 held', () => first.got.length === 2)
      await first.membership.leave()
      const again = await join(await adapter(key), 'web-1', { claimAfterMs: 300, prefetch: 5 })
      await waitFor(`2 again (${describeMembers([again])})`, () => again.got.length === 2, 5_000)
      expect(again.got.map(text).sort()).toEqual(['m-0', 'm-1'])
      expect(again.got.every((m) => m.deliveries === 2)).toBe(true)
    })

    it('redelivers a nacked message', async () => {
      const key = uniqueKey('group')
      const writer = await adapter(key)
      const member = await join(await adapter(key), 'only', { claimAfterMs: 300, prefetch: 5 }, false)
      await publish(writer, 'm', 1)
      await waitFor('delivery', () => member.got.length === 1)
      await member.got[0].nack(0)
      await waitFor(`redelivery (${describeMembers([member])})`, () => member.got.length === 2, 5_000)
      expect(text(member.got[1])).toBe('m-0')
      expect(member.got[1].deliveries).toBe(2)
      await member.got[1].ack()
    })
  })
}
