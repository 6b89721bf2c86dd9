/**
 * A consumer group on NATS JetStream through Feathers apps: a live member whose handler runs longer than
 * `claimAfterMs` (the consumer's ack_wait) keeps its event; JetStream must not hand it to another member.
 */
import type { GroupStats } from '../src/index'
import { createTestApp, teardownFleet, uniqueKey, waitFor, type TestApp } from './helpers/apps'

jest.setTimeout(30_000)

const url = process.env.FANOUT_NATS_URL
if (!url) throw new Error('FANOUT_NATS_URL is not set: run with FANOUT_BROKERS including nats')

const CLAIM_AFTER_MS = 1_000
/** How long the handler works: longer than two ack_wait periods. */
const HANDLER_MS = 2_500

let fleet: TestApp[] = []
afterEach(async () => {
  await teardownFleet(fleet)
  fleet = []
})

const statsOf = async (apps: TestApp[]): Promise<GroupStats[]> =>
  (await Promise.all(apps.map(({ app }) => app.sync.groupStats()))).flat()

const describeStats = (stats: GroupStats[]): string =>
  stats
    .map((s, i) => `member ${i}: joined ${s.joined}, pending ${s.pending}, handled ${s.handled}`)
    .join('; ')

describe('nats groups: a slow handler on a live member', () => {
  it('is not handed to a second member while the first still works on it (handled once)', async () => {
    const options = { uri: url, key: uniqueKey('ng-slow'), durable: true }
    fleet = [createTestApp(options), createTestApp(options)]
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
          await new Promise((resolve) => setTimeout(resolve, HANDLER_MS))
          effects++
        },
        // prefetch 1: the busy member does not pull, so a redelivery could only go to the other one.
        { claimAfterMs: CLAIM_AFTER_MS, prefetch: 1, timeoutMs: 10_000 }
      )
    )
    await settled('both members joined', (stats) => stats.length === 2 && stats.every((s) => s.joined))
    await fleet[0].app.service('todos').create({ n: 1 })
    await waitFor(`the handler done (${JSON.stringify(starts)})`, () => effects >= 1, HANDLER_MS * 4)
    const stats = await settled('the event acknowledged', (all) => all.every((s) => s.pending === 0))
    // A redelivery by ack_wait would have started on the other member about CLAIM_AFTER_MS after the first
    // start, long before the first handler ended.
    expect(starts.map(({ member, deliveries }) => ({ member, deliveries }))).toEqual([
      { member: starts[0].member, deliveries: 1 }
    ])
    expect(effects).toBe(1)
    expect(stats.reduce((sum, s) => sum + s.handled, 0)).toBe(1)
  })
})

/** Polls the members' group stats until `check` holds (10 s at most); says what they were otherwise. */
async function settled(what: string, check: (stats: GroupStats[]) => boolean): Promise<GroupStats[]> {
  const deadline = Date.now() + 10_000
  let stats = await statsOf(fleet)
  while (!check(stats)) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what} (${describeStats(stats)})`)
    await new Promise((resolve) => setTimeout(resolve, 20))
    stats = await statsOf(fleet)
  }
  return stats
}
