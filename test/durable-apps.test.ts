/**
 * Durable delivery through Feathers apps on the shared Redis and NATS (JetStream) servers: a gap when
 * retention is shorter than an outage (reported with its count where the broker numbers messages,
 * nothing else lost), and with `secrets`, old messages replayed from the log still delivered and a
 * message the log holds twice counted as a duplicate, not dropped as a replay. One instance is cut off
 * through a TCP gate in front of the shared server, so the server itself is never disturbed.
 */
import { Redis } from 'ioredis'
import { connect as natsConnect } from 'nats'
import { streamName } from '../adapters/nats/durable-options'
import type { DurableOptions, SyncGap, SyncOptions } from '../src/index'
import { createTestApp, uniqueKey, waitFor, type TestApp } from './helpers/apps'
import { startGate, type Gate } from './helpers/gate'

const SECRET = 'durable-apps-secret-of-32-bytes!'
/** Short, so that a message is "old" within the test; the broadcast policy would drop it as stale. */
const MAX_AGE_MS = 300

interface Target {
  name: 'redis' | 'nats'
  url: string | undefined
  /** Stores the newest entry of the channel's log a second time, behind the library's back. */
  storeAgain(url: string, key: string): Promise<void>
}

const TARGETS: Target[] = [
  {
    name: 'redis',
    url: process.env.FANOUT_REDIS_URL,
    async storeAgain(url, key) {
      const client = new Redis(url, { maxRetriesPerRequest: 1 })
      try {
        const [[, fields]] = await client.xrevrangeBuffer(`{${key}}:log`, '+', '-', 'COUNT', 1)
        await client.xadd(`{${key}}:log`, '*', ...fields)
      } finally {
        client.disconnect()
      }
    }
  },
  {
    name: 'nats',
    url: process.env.FANOUT_NATS_URL,
    async storeAgain(url, key) {
      const nc = await natsConnect({ servers: url })
      try {
        const jsm = await nc.jetstreamManager()
        const stream = streamName(key)
        const { state } = await jsm.streams.info(stream)
        const last = await jsm.streams.getMessage(stream, { seq: state.last_seq })
        await jsm.jetstream().publish(last.subject, last.data)
      } finally {
        await nc.close()
      }
    }
  }
]

let apps: TestApp[] = []
let gate: Gate | undefined

afterEach(async () => {
  await Promise.all(apps.map(({ app }) => app.teardown()))
  apps = []
  await gate?.close()
  gate = undefined
})

async function start(options: SyncOptions): Promise<TestApp & { gaps: SyncGap[] }> {
  const member = Object.assign(createTestApp(options), { gaps: [] as SyncGap[] })
  member.app.on('sync-gap', (gap: SyncGap) => member.gaps.push(gap))
  apps.push(member)
  await member.app.sync.ready
  return member
}

/** Name, status and counters of an app, for failure messages. */
const describeApp = (name: string, member: TestApp) =>
  `${name}: ${member.app.sync.status}, ${JSON.stringify(member.app.sync.stats())}`

async function until(what: string, check: () => boolean, members: [string, TestApp][]): Promise<void> {
  await waitFor(what, check, 15_000).catch((error: Error) => {
    throw new Error(`${error.message}; ${members.map(([name, m]) => describeApp(name, m)).join('; ')}`)
  })
}

const markers = (member: TestApp, prefix: string) =>
  member.received
    .filter((r) => r.event === 'created' && String(r.data.marker).startsWith(`${prefix}-`))
    .map((r) => Number(String(r.data.marker).slice(prefix.length + 1)))

async function createAll(member: TestApp, prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await member.app.service('todos').create({ marker: `${prefix}-${i}` })
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

describe.each(TARGETS)('$name: durable delivery through Feathers apps', (target) => {
  const url = target.url as string
  if (!target.url) throw new Error(`the shared ${target.name} server is not running`)

  it('reports the gap when retention is shorter than an outage, with its count, and loses nothing else', async () => {
    const key = uniqueKey(`gap-${target.name}`)
    const durable: DurableOptions = { maxMessages: 20 }
    gate = await startGate(Number(new URL(url).port))
    const writer = await start({ uri: url, key, durable })
    const witness = await start({ uri: url, key, durable })
    const cut = await start({ uri: url.replace(/:\d+$/, `:${gate.port}`), key, durable })
    const all: [string, TestApp][] = [
      ['writer', writer],
      ['witness', witness],
      ['cut', cut]
    ]
    await createAll(writer, 'before', 5)
    await until('the first five at the cut instance', () => markers(cut, 'before').length === 5, all)

    gate.block()
    gate.cut()
    await until('the cut instance to notice', () => cut.app.sync.status !== 'ready', all)
    // In tens, each read by the witness before the next: live readers keep up with a retention of 20,
    // and once the witness has all 200 the broker has stored them (and trimmed to about 20).
    for (let ten = 0; ten < 20; ten++) {
      for (let i = 0; i < 10; i++)
        await writer.app.service('todos').create({ marker: `away-${ten * 10 + i}` })
      await until(
        `the witness to get ${ten * 10 + 10}`,
        () => markers(witness, 'away').length === ten * 10 + 10,
        all
      )
    }
    gate.open()
    await until('the cut instance to be ready again', () => cut.app.sync.status === 'ready', all)
    // It reads what retention kept before more is published: with a retention of 20, five more while it is
    // still a whole retention behind would trim five it has not read (a second, correct, gap).
    await until('the retained events at the cut instance', () => markers(cut, 'away').at(-1) === 199, all)
    await createAll(writer, 'after', 5)
    await until('the last five at the cut instance', () => markers(cut, 'after').length === 5, all)

    const away = markers(cut, 'away')
    const first = away[0]
    // What it got is everything retention still held: an unbroken run up to the last one.
    expect(away).toEqual(range(first, 200))
    expect(markers(cut, 'before')).toEqual(range(0, 5))
    expect(markers(cut, 'after')).toEqual(range(0, 5))
    expect(cut.gaps).toHaveLength(1)
    const [gap] = cut.gaps
    expect(gap.channel).toBe(key)
    if (target.name === 'nats') {
      // JetStream keeps exactly the last 20 and numbers every message: 180 are gone, counted exactly.
      expect(first).toBe(180)
      expect(gap).toEqual({
        channel: key,
        after: '5',
        firstAvailable: '186',
        missing: 180,
        reason: 'retention'
      })
      expect(cut.app.sync.stats().gaps).toEqual({ reported: 1, missing: 180 })
    } else {
      // Approximate trimming keeps at least 20, by whole stream nodes; entry ids cannot count what went.
      expect(first).toBeGreaterThan(0)
      expect(first).toBeLessThanOrEqual(180)
      expect(gap.missing).toBeUndefined()
      expect(gap.reason).toBe('retention')
      expect(gap.after < gap.firstAvailable).toBe(true)
      expect(cut.app.sync.stats().gaps).toEqual({ reported: 1, missing: 0 })
    }
    expect(witness.gaps).toEqual([])
    expect(cut.app.sync.stats().dropped.duplicate).toBe(0)
  }, 60_000)

  it('with secrets, delivers messages older than maxMessageAgeMs to a named instance catching up', async () => {
    const key = uniqueKey(`old-${target.name}`)
    const secure = { uri: url, key, secrets: [SECRET], maxMessageAgeMs: MAX_AGE_MS }
    const writer = await start({ ...secure, durable: true })
    const reader = await start({ ...secure, durable: { consumerName: 'late' } })
    await createAll(writer, 'first', 1)
    await until('the first event', () => markers(reader, 'first').length === 1, [['reader', reader]])
    await reader.app.teardown()
    apps = apps.filter((member) => member !== reader)

    const witness = await start({ ...secure, durable: true })
    await createAll(writer, 'while-away', 20)
    // The witness got them all, so the broker stored them all.
    await until('the witness to get all 20', () => markers(witness, 'while-away').length === 20, [
      ['witness', witness]
    ])
    const storedBy = Date.now()
    await waitFor(
      'the stored events to be older than maxMessageAgeMs',
      () => Date.now() > storedBy + 2 * MAX_AGE_MS
    )

    const back = await start({ ...secure, durable: { consumerName: 'late' } })
    await until('the 20 events sent while it was away', () => markers(back, 'while-away').length === 20, [
      ['back', back]
    ])
    expect(markers(back, 'while-away')).toEqual(range(0, 20))
    expect(markers(back, 'first')).toEqual([])
    const { dropped } = back.app.sync.stats()
    expect({ stale: dropped.stale, replayed: dropped.replayed }).toEqual({ stale: 0, replayed: 0 })
    expect(witness.gaps).toEqual([])
  }, 60_000)

  it('with secrets, a message the log holds twice is delivered once and counted as a duplicate, not a replay', async () => {
    const key = uniqueKey(`twice-${target.name}`)
    const secure = { uri: url, key, secrets: [SECRET], durable: true }
    const writer = await start(secure)
    const reader = await start(secure)
    const both: [string, TestApp][] = [
      ['writer', writer],
      ['reader', reader]
    ]
    await createAll(writer, 'once', 1)
    await until('the event', () => markers(reader, 'once').length === 1, both)
    await target.storeAgain(url, key)
    await until('the second copy to be counted', () => reader.app.sync.stats().dropped.duplicate === 1, both)
    await createAll(writer, 'next', 1)
    await until('the next event', () => markers(reader, 'next').length === 1, both)
    expect(markers(reader, 'once')).toEqual([0])
    expect(reader.app.sync.stats().dropped.replayed).toBe(0)
  }, 30_000)
})
