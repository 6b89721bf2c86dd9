/**
 * `claimAfterMs` on RabbitMQ. A member process frozen with SIGSTOP while it holds events gives them to
 * another member after about `claimAfterMs`, whatever the heartbeat of the instances' main connections
 * (here 10 s: RabbitMQ would notice the frozen process on that connection after 10 to 30 s); thawed, it
 * consumes again, and only what it had started is handled twice. A live member whose handler runs 2.5 ×
 * `claimAfterMs` keeps its event. Members in separate processes; their handlers keep books in Redis
 * (test/groups/member.ts).
 */
import { feathers, type Application } from '@feathersjs/feathers'
import { MemoryService } from '@feathersjs/memory'
import { connect } from 'amqplib'
import { sync } from '../src/index'
import { uniqueKey } from './helpers/apps'
import { slowMemberKeepsItsEvent } from './helpers/slow-member'
import { killAll, readBooks, startMember, type Books, type MemberProcess } from './groups/fleet'

const AMQP_URL = process.env.FANOUT_AMQP_URL ?? ''
const REDIS_URL = process.env.FANOUT_REDIS_URL ?? ''
const describeAmqp = AMQP_URL && REDIS_URL ? describe : describe.skip

jest.setTimeout(180_000)

const CLAIM_AFTER_MS = 2_000
/** The main connections' heartbeat (s): far above what `claimAfterMs` asks for. */
const MAIN_HEARTBEAT_S = 10
const PREFETCH = 5
/** Events published before the freeze (the frozen member works on its share for VICTIM_WORK_MS)… */
const FIRST = 10
/** …and after the thaw (one tick each, on every member). */
const SECOND = 20
/** Longer than the takeover, so that the frozen member is still working on what it holds. */
const VICTIM_WORK_MS = 8_000
/**
 * The longest takeover accepted: RabbitMQ's check needs at most 1.5 × claimAfterMs (see
 * groupHeartbeatS), plus room for a busy machine; on the main connection it would need 10 s at least.
 */
const TAKEOVER_BOUND_MS = 2 * CLAIM_AFTER_MS + 4_000

let publishers: Application[] = []
afterEach(async () => {
  await killAll()
  await Promise.all(publishers.map((app) => app.teardown()))
  publishers = []
})

async function publisher(key: string): Promise<Application> {
  const app = feathers()
  app.configure(sync({ uri: AMQP_URL, key, durable: true }))
  app.use('todos', new MemoryService())
  publishers.push(app)
  await app.sync.ready
  return app
}

async function publish(app: Application, from: number, to: number): Promise<void> {
  for (let n = from; n < to; n++) await app.service('todos').create({ n })
}

/** The group queue as RabbitMQ sees it: messages ready and consumers. */
async function groupQueue(key: string): Promise<{ ready: number; consumers: number } | string> {
  try {
    const connection = await connect(AMQP_URL, { timeout: 2_000 })
    try {
      const channel = await connection.createChannel()
      const { messageCount, consumerCount } = await channel.checkQueue(`${key}.group.proof`)
      return { ready: messageCount, consumers: consumerCount }
    } finally {
      await connection.close().catch(() => undefined)
    }
  } catch (error) {
    return `group queue unreadable: ${(error as Error).message}`
  }
}

/** Polls (bounded) until `check` holds; the error says what each member and the queue were at. */
async function until<T>(
  what: string,
  timeoutMs: number,
  fleet: MemberProcess[],
  key: string,
  check: (books: Books) => Promise<T | undefined> | T | undefined
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const books = await readBooks(REDIS_URL, key, fleet.length)
    const done = await check(books)
    if (done !== undefined) return done
    if (Date.now() > deadline) {
      await Promise.all(fleet.map((member) => member.askStats()))
      const members = fleet.map(
        (member, i) =>
          `${member.describe()}; started [${[...books.started[i]].join(',')}], ` +
          `handled [${books.handled[i].map(({ n, deliveries }) => `${n}×${deliveries}`).join(',')}]`
      )
      const queue = JSON.stringify(await groupQueue(key))
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${what}: ${members.join('; ')}; queue ${queue}`
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describeAmqp('amqp groups: claimAfterMs', () => {
  it('hands what a frozen member held to another after about claimAfterMs; thawed, it consumes again', async () => {
    const key = uniqueKey('claim')
    const base = {
      uri: AMQP_URL,
      booksUri: REDIS_URL,
      key,
      prefetch: PREFETCH,
      claimAfterMs: CLAIM_AFTER_MS,
      sync: { amqpConnectionOptions: { heartbeat: MAIN_HEARTBEAT_S } }
    }
    // One after the other, the publisher first: it declares the stream, which members then only find.
    // (Seen once: with everything declared at once on a fresh RabbitMQ 3.10, a member's main connection
    // was closed with 541 INTERNAL_ERROR while it read the stream's tail, and its start failed for good.)
    const app = await publisher(key)
    const victim = startMember({ ...base, index: 0, workMs: VICTIM_WORK_MS, workBelow: FIRST })
    await victim.ready
    const survivor = startMember({ ...base, index: 1, workMs: 0 })
    await survivor.ready
    const fleet = [victim, survivor]
    await publish(app, 0, FIRST)

    // Each event of the first batch is either being worked on by the victim or done by the survivor.
    const held = await until('the victim to hold its share', 30_000, fleet, key, (books) => {
      const taken = new Set([...books.started[0], ...books.handled[1].map(({ n }) => n)])
      if (books.handled[0].length > 0)
        throw new Error(`the victim finished ${books.handled[0].length} before the freeze`)
      return taken.size === FIRST && books.started[0].size > 0 ? [...books.started[0]] : undefined
    })
    victim.proc.kill('SIGSTOP')
    const frozenAt = Date.now()

    const takeovers = await until(
      `the survivor to take over ${held.join(',')}`,
      TAKEOVER_BOUND_MS,
      fleet,
      key,
      (books) => {
        const rows = books.handled[1].filter(({ n }) => held.includes(n))
        return rows.length === held.length ? rows : undefined
      }
    )
    const times = takeovers.map(({ at }) => at - frozenAt)
    process.stdout.write(
      `amqp claim: ${held.length} events taken over ${Math.min(...times)}-${Math.max(...times)} ms after SIGSTOP ` +
        `(claimAfterMs ${CLAIM_AFTER_MS}, main heartbeat ${MAIN_HEARTBEAT_S} s)\n`
    )
    // Redeliveries, none of them handed over before the freeze.
    expect(takeovers.filter(({ deliveries, at }) => deliveries < 2 || at < frozenAt)).toEqual([])

    victim.proc.kill('SIGCONT')
    // Thawed: its handlers end (their acks fail: RabbitMQ took the events back), and it consumes again.
    await until('the victim to finish its work and consume again', 30_000, fleet, key, async (books) => {
      if (books.handled[0].length < held.length) return undefined
      const queue = await groupQueue(key)
      return typeof queue === 'object' && queue.consumers === 2 ? true : undefined
    })
    await publish(app, FIRST, FIRST + SECOND)
    const books = await until('every event handled', 30_000, fleet, key, (all) =>
      all.counts.size === FIRST + SECOND ? all : undefined
    )
    const repeated = [...books.counts].filter(([, times]) => times > 1).map(([n]) => n)
    // At least once: handled twice only what the victim had started before the freeze.
    expect(repeated.filter((n) => !held.includes(n))).toEqual([])
    expect(books.handled[0].filter(({ n }) => n >= FIRST).length).toBeGreaterThan(0)
    expect(survivor.problems).toEqual([])
  })

  it('leaves a live member its event while its handler runs 2.5 × claimAfterMs (handled once)', async () => {
    await slowMemberKeepsItsEvent({
      options: { uri: AMQP_URL },
      claimAfterMs: CLAIM_AFTER_MS,
      handlerMs: 2.5 * CLAIM_AFTER_MS
    })
  })
})
