/**
 * One case shared by the group tests of brokers that take a silent member's events after `claimAfterMs`
 * (NATS JetStream's ack_wait, RabbitMQ's heartbeat on the group connection): a live member whose handler
 * runs longer than that keeps its event; the broker must not hand it to another member.
 */
import type { GroupStats, SyncOptions } from '../../src/index'
import { createTestApp, teardownFleet, uniqueKey, waitFor, type TestApp } from './apps'

export interface SlowMemberCase {
  /** Sync options of both apps (`uri`, broker options); `key` and `durable` are set here. */
  options: SyncOptions
  claimAfterMs: number
  /** How long the handler works: longer than two `claimAfterMs`. */
  handlerMs: number
}

const statsOf = async (apps: TestApp[]): Promise<GroupStats[]> =>
  (await Promise.all(apps.map(({ app }) => app.sync.groupStats()))).flat()

const describeStats = (stats: GroupStats[]): string =>
  stats
    .map((s, i) => `member ${i}: joined ${s.joined}, pending ${s.pending}, handled ${s.handled}`)
    .join('; ')

/** Polls the members' group stats until `check` holds (10 s at most); says what they were otherwise. */
async function settled(
  fleet: TestApp[],
  what: string,
  check: (stats: GroupStats[]) => boolean
): Promise<GroupStats[]> {
  const deadline = Date.now() + 10_000
  let stats = await statsOf(fleet)
  while (!check(stats)) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what} (${describeStats(stats)})`)
    await new Promise((resolve) => setTimeout(resolve, 20))
    stats = await statsOf(fleet)
  }
  return stats
}

/** Runs the case with two apps on one channel; the expectations are inside. */
export async function slowMemberKeepsItsEvent({ options, claimAfterMs, handlerMs }: SlowMemberCase) {
  const synced = { ...options, key: uniqueKey('slow-member'), durable: true }
  const fleet = [createTestApp(synced), createTestApp(synced)]
  try {
    await Promise.all(fleet.map(({ app }) => app.sync.ready))
    // Which member ran the handler and when, per start; the side effect is counted when the handler ends.
    const starts: { member: number; deliveries: number; at: number }[] = []
    let effects = 0
    fleet.forEach(({ app }, member) =>
      app.sync.consume<{ n: number }>(
        'history',
        'todos',
        'created',
        async (_data, meta) => {
          starts.push({ member, deliveries: meta.deliveries, at: Date.now() })
          // A slow job (a mail server, a report); not a wait for a condition.
          await new Promise((resolve) => setTimeout(resolve, handlerMs))
          effects++
        },
        // prefetch 1: the busy member takes nothing more, so a redelivery could only go to the other one.
        { claimAfterMs, prefetch: 1, timeoutMs: handlerMs * 4 }
      )
    )
    await settled(fleet, 'both members joined', (stats) => stats.length === 2 && stats.every((s) => s.joined))
    await fleet[0].app.service('todos').create({ n: 1 })
    await waitFor(`the handler done (${JSON.stringify(starts)})`, () => effects >= 1, handlerMs * 4)
    const stats = await settled(fleet, 'the event acknowledged', (all) => all.every((s) => s.pending === 0))
    // A redelivery would have started on the other member about claimAfterMs after the first start, long
    // before the first handler ended.
    expect(starts.map(({ member, deliveries }) => ({ member, deliveries }))).toEqual([
      { member: starts[0].member, deliveries: 1 }
    ])
    expect(effects).toBe(1)
    expect(stats.reduce((sum, s) => sum + s.handled, 0)).toBe(1)
  } finally {
    await teardownFleet(fleet)
  }
}
