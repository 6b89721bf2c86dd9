/**
 * Consumer groups on RabbitMQ at the adapter level (plain callbacks, no engine): a quorum queue per group
 * bound to the channel's durable fanout exchange. The shared broker for most cases; a private broker for
 * a cut connection (rabbitmqctl close_connection).
 */
import type { GroupLog } from '../src/adapter'
import { connect as amqpConnect } from 'amqplib'
import { SyncConfigError, SyncGroupError, type SyncError } from '../src/errors'
import { parseOptions } from '../src/engine/options'
import type { SyncOptions } from '../src/index'
import { createAmqpAdapter, type AmqpAdapter } from '../adapters/amqp'
import { rabbitmqRows, rabbitmqctl, startRabbitMq, type BrokerHandle } from './brokers'
import { uniqueKey, waitFor } from './helpers/apps'
import { counts, describeMembers, join, numbered, textsOf, waitAllGot, type Member } from './helpers/groups'

jest.setTimeout(120_000)

type Grouped = AmqpAdapter & GroupLog & { publishDurable(payload: string): Promise<unknown> }

interface Instance {
  name: string
  adapter: Grouped
  statuses: string[]
  errors: SyncError[]
  /** What its durable (broadcast) subscription got, in order. */
  texts: string[]
}

const opened: Instance[] = []
const fast = { amqpRecovery: { initialDelayMs: 50, maxDelayMs: 300 } }
// These cases are not about claims (groups-amqp-claim is): 10 s gives the group connection the same 5 s
// heartbeat as the main one, so a busy machine does not take a live member for a frozen one.
const options = { claimAfterMs: 10_000, prefetch: 10 }

/** An instance as the engine runs it: connected and subscribed to the durable log at its tail. */
async function instance(uri: string, key: string, name = 'instance'): Promise<Instance> {
  const extra: SyncOptions = { amqpConnectionOptions: { clientProperties: { connection_name: name } } }
  const adapter = createAmqpAdapter(parseOptions({ uri, key, durable: true, ...fast, ...extra }))
  if (!adapter.capabilities.group) throw new Error('the AMQP adapter with `durable` has no groups')
  const entry: Instance = { name, adapter: adapter as Grouped, statuses: [], errors: [], texts: [] }
  opened.push(entry)
  await adapter.connect({
    status: (status) => entry.statuses.push(status),
    error: (error) => entry.errors.push(error)
  })
  await entry.adapter.subscribeDurable?.(
    { kind: 'tail' },
    { message: (payload) => entry.texts.push(Buffer.from(payload).toString()), gap: () => undefined }
  )
  return entry
}

const describeInstance = ({ name, statuses, errors }: Instance): string =>
  `${name}: statuses [${statuses.join(',')}], errors [${errors.map((error) => error.message).join('; ')}]`

async function publishAll(publisher: Instance, texts: string[]): Promise<void> {
  for (const text of texts) await publisher.adapter.publishDurable(text)
}

/**
 * Events published while a group has no queue are not kept for it: publishes a probe every 50 ms until
 * one reaches `member` (bounded by 10 s; `state` says why it did not), then `after` must all arrive.
 */
async function rejoined(publisher: Instance, member: Member, state: () => string): Promise<void> {
  const deadline = Date.now() + 10_000
  for (let i = 0; !textsOf(member).some((text) => text.startsWith('again-')); i++) {
    if (Date.now() > deadline) throw new Error(`the member never joined again (${state()})`)
    await publishAll(publisher, [`again-${i}`])
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const after = numbered('after', 20)
  await publishAll(publisher, after)
  await waitAllGot([member], after)
}

async function members(uri: string, key: string, group: string, count: number, prefetch = 10) {
  const joined: Member[] = []
  for (let i = 0; i < count; i++) {
    const { adapter } = await instance(uri, key, `member ${i}`)
    joined.push(await join(adapter, group, `m${i}`, { ...options, prefetch }))
  }
  return joined
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map(({ adapter }) => adapter.close()))
})

const shared = process.env.FANOUT_AMQP_URL
const describeShared = shared ? describe : describe.skip

describeShared('amqp groups on the shared broker', () => {
  const uri = shared as string

  it('says it has groups in durable mode only', () => {
    const key = uniqueKey('ag')
    expect(createAmqpAdapter(parseOptions({ uri, key })).capabilities.group).toBeFalsy()
    expect(createAmqpAdapter(parseOptions({ uri, key, durable: true })).capabilities.group).toBe(true)
  })

  it('hands each message to one member of a group of 3, spread over them', async () => {
    const key = uniqueKey('ag-once')
    const group = await members(uri, key, 'mailer', 3, 5)
    const publisher = await instance(uri, key, 'publisher')
    const sent = numbered('m', 300)
    await Promise.all(sent.map((text) => publisher.adapter.publishDurable(text)))
    await waitAllGot(group, sent)
    const seen = counts(group)
    expect([...seen.values()].filter((count) => count !== 1)).toEqual([])
    expect(seen.size).toBe(sent.length)
    expect(group.map((member) => member.got.length > 0)).toEqual([true, true, true])
    expect(group.flatMap((member) => member.got.map((entry) => entry.deliveries))).not.toContain(2)
  })

  it('starts a new group at the tail, and gives two groups and the stream every message each', async () => {
    const key = uniqueKey('ag-two')
    const publisher = await instance(uri, key, 'publisher')
    await publishAll(publisher, numbered('before', 5))
    const mailers = await members(uri, key, 'mailer', 2)
    const history = await members(uri, key, 'history', 1)
    const sent = numbered('m', 50)
    await publishAll(publisher, sent)
    await waitAllGot(mailers, sent)
    await waitAllGot(history, sent)
    expect([...counts(mailers).keys()].sort()).toEqual([...sent].sort())
    expect(textsOf(history[0])).toEqual(sent)
    // The durable log still gets everything through the exchange (read after its first offset, 0).
    const rows = await publisher.adapter.readRange?.('0', 100)
    const logged = rows?.map((row) => Buffer.from(row.payload).toString())
    expect(logged).toEqual([...numbered('before', 5).slice(1), ...sent])
  })

  it('requeues what a member held the moment it leaves, for another member, as delivery 2', async () => {
    const key = uniqueKey('ag-left')
    const { adapter } = await instance(uri, key, 'quitter')
    const leaving = await join(adapter, 'mailer', 'q', { ...options, prefetch: 3 }, 'hold')
    const publisher = await instance(uri, key, 'publisher')
    await publishAll(publisher, numbered('m', 3))
    await waitFor(`the quitter to hold 3 (${describeMembers([leaving])})`, () => leaving.held() === 3)
    const [stayer] = await members(uri, key, 'mailer', 1)
    await leaving.membership.leave()
    await waitAllGot([stayer], numbered('m', 3))
    expect(stayer.got.map((entry) => entry.deliveries)).toEqual([2, 2, 2])
    await expect(leaving.got[0].message.ack()).rejects.toThrow(/requeued/)
  })

  it('redelivers a nacked message after the delay asked for, as delivery 2', async () => {
    const key = uniqueKey('ag-nack')
    const { adapter } = await instance(uri, key, 'member')
    const member = await join(adapter, 'mailer', 'n', options, 'hold')
    const publisher = await instance(uri, key, 'publisher')
    await publishAll(publisher, ['once'])
    await waitFor(`the first delivery (${describeMembers([member])})`, () => member.got.length === 1)
    const nacked = Date.now()
    await member.got[0].message.nack(600)
    await waitFor(`the redelivery (${describeMembers([member])})`, () => member.got.length === 2)
    expect(member.got[1]).toMatchObject({ text: 'once', deliveries: 2 })
    expect(member.got[1].at - nacked).toBeGreaterThanOrEqual(500)
    await member.got[1].message.nack(0)
    await waitFor(`the third delivery (${describeMembers([member])})`, () => member.got.length === 3)
    expect(member.got[2]).toMatchObject({ text: 'once', deliveries: 3 })
    await member.got[2].message.ack()
    await publishAll(publisher, ['next'])
    await waitFor(`the next one (${describeMembers([member])})`, () => textsOf(member).includes('next'))
    expect(textsOf(member)).toEqual(['once', 'once', 'once', 'next'])
  })

  it('never hands a member more than prefetch unacknowledged', async () => {
    const key = uniqueKey('ag-prefetch')
    const { adapter } = await instance(uri, key, 'slow member')
    const slow = await join(adapter, 'mailer', 's', { ...options, prefetch: 4 }, 'hold')
    const publisher = await instance(uri, key, 'publisher')
    const sent = numbered('m', 30)
    await publishAll(publisher, sent)
    await waitFor(`the slow member to hold 4 (${describeMembers([slow])})`, () => slow.held() === 4)
    const [quick] = await members(uri, key, 'mailer', 1, 100)
    // The quick member takes all the others while the slow one still holds its 4 and got nothing more.
    await waitAllGot([slow, quick], sent)
    expect(slow.got).toHaveLength(4)
    expect(quick.got).toHaveLength(26)
  })

  it('refuses a bad group, member or option with a typed error naming it', async () => {
    const { adapter } = await instance(uri, uniqueKey('ag-bad'), 'member')
    await expect(adapter.joinGroup('', 'm', options, () => undefined)).rejects.toThrow(SyncConfigError)
    await expect(adapter.joinGroup('g', '', options, () => undefined)).rejects.toMatchObject({
      option: 'member'
    })
    await expect(
      adapter.joinGroup('g', 'm', { ...options, prefetch: 0 }, () => undefined)
    ).rejects.toMatchObject({ option: 'prefetch' })
    await expect(adapter.joinGroup('g'.repeat(300), 'm', options, () => undefined)).rejects.toMatchObject({
      option: 'group'
    })
  })

  it('says so when it cannot join its group again, and joins once it can', async () => {
    const key = uniqueKey('ag-rejoin')
    const member = await instance(uri, key, 'member')
    const joined = await join(member.adapter, 'conflict', 'm', options)
    const publisher = await instance(uri, key, 'publisher')
    await publishAll(publisher, ['first'])
    await waitAllGot([joined], ['first'])
    // Someone replaces the group's quorum queue with a classic one: every declaration of the member's
    // fails (406 PRECONDITION_FAILED) until it is gone.
    const queue = `${key}.group.conflict`
    const admin = await amqpConnect(uri)
    try {
      const channel = await admin.createChannel()
      await channel.deleteQueue(queue)
      await channel.assertQueue(queue, { durable: true })
      const refused = () =>
        member.errors.filter((error) => error instanceof SyncGroupError && error.group === 'conflict')
      await waitFor(
        () => `a SyncGroupError for the group (${describeInstance(member)})`,
        () => refused().length > 0
      )
      expect(refused()[0].message).toMatch(
        /Could not join consumer group "conflict" again.*already exists.*with other arguments/
      )
      await channel.deleteQueue(queue)
    } finally {
      await admin.close()
    }
    await rejoined(publisher, joined, () => describeInstance(member))
  })
})

describe('amqp groups through outages (private broker)', () => {
  let broker: BrokerHandle
  const key = uniqueKey('ag-outage')

  beforeAll(async () => {
    broker = await startRabbitMq()
  })

  afterAll(async () => {
    await Promise.all(opened.splice(0).map(({ adapter }) => adapter.close()))
    await broker?.stop()
  })

  it('requeues what a member held when its group connection is cut; the member joins again by itself', async () => {
    const cut = await instance(broker.url, key, `cut-${key}`)
    const holder = await join(cut.adapter, 'mailer', 'c', { ...options, prefetch: 2 }, 'hold')
    const publisher = await instance(broker.url, key, 'publisher')
    await publishAll(publisher, numbered('m', 2))
    await waitFor(`the cut member to hold 2 (${describeMembers([holder])})`, () => holder.held() === 2)
    const [other] = await members(broker.url, key, 'mailer', 1)
    const connections = await rabbitmqRows(broker, 'list_connections', 'pid', 'client_properties')
    const mine = connections.filter((row) => row[1]?.includes(`cut-${key}`))
    // The main connection (broadcast, the log) and the one its groups consume on, named after it.
    const isGroups = (row: string[]) => row[1].includes('groups (heartbeat 5 s)')
    expect(mine.map(isGroups).sort()).toEqual([false, true])
    const statuses = cut.statuses.length
    await rabbitmqctl(broker, 'close_connection', mine.filter(isGroups)[0][0], 'group test cut')
    await waitAllGot([other], numbered('m', 2))
    expect(other.got.map((entry) => entry.deliveries)).toEqual([2, 2])
    // Told once, without touching the instance's status: broadcast and the log still run.
    await waitFor(`the lost group connection reported (${describeInstance(cut)})`, () =>
      cut.errors.some((error) => /consumer groups/.test(error.message))
    )
    expect(cut.statuses.slice(statuses)).toEqual([])
    const after = numbered('after', 40)
    await publishAll(publisher, after)
    await waitAllGot([holder, other], after)
    expect(holder.got.some((entry) => entry.text.startsWith('after-'))).toBe(true)
  })

  it('comes back ready after kill -9 and restart; nothing confirmed before or published after is lost', async () => {
    // The group queue and the stream exist since the case above: RabbitMQ 3.10 can lose a queue
    // declared a moment before a kill -9 (see docs/amqp.md).
    const fleet = [await instance(broker.url, key, 'member a'), await instance(broker.url, key, 'member b')]
    const group = await Promise.all(fleet.map(({ adapter }, i) => join(adapter, 'mailer', `k${i}`, options)))
    const publisher = await instance(broker.url, key, 'publisher')
    const before = numbered('before', 50)
    await publishAll(publisher, before)
    await waitAllGot(group, before)
    await waitFor(`the broadcast subscribers to get all before (${fleet.map(describeInstance)})`, () =>
      fleet.every(({ texts }) => before.every((text) => texts.includes(text)))
    )
    const all = [...fleet, publisher]
    const marks = all.map(({ statuses }) => statuses.length)
    await broker.kill('SIGKILL')
    await broker.restart()
    const restarted = Date.now()
    await waitFor(
      () => `every instance ready again (${all.map(describeInstance).join(' | ')})`,
      () =>
        all.every(({ statuses }, i) => {
          const since = statuses.slice(marks[i])
          return since.includes('reconnecting') && since[since.length - 1] === 'ready'
        }),
      30_000
    )
    const readyMs = Date.now() - restarted
    const after = numbered('after', 50)
    await publishAll(publisher, after)
    await waitAllGot(group, after, 30_000)
    for (const { texts, name } of fleet) {
      await waitFor(`${name}'s broadcast subscription to get all after`, () =>
        after.every((text) => texts.includes(text))
      )
      // Each once, in order: the durable subscription resumed where it was.
      expect(texts).toEqual([...before, ...after])
    }
    // At least once: nothing handled before the kill or published after it is missing at the group.
    const seen = counts(group)
    expect([...before, ...after].filter((text) => !seen.has(text))).toEqual([])
    expect(
      group.flatMap((member) => member.ackErrors.map((error) => `${member.name}: ${error.message}`))
    ).toEqual([])
    // Repeats are allowed (see docs/amqp.md): a quorum queue may hand an event out again around a restart.
    const repeats = [...seen.values()].reduce((sum, count) => sum + count - 1, 0)
    process.stdout.write(`amqp groups: ready ${readyMs} ms after the broker restart; ${repeats} repeats\n`)
  })

  it('joins again by itself when its group queue is deleted under it', async () => {
    const { adapter } = await instance(broker.url, key, 'member')
    const member = await join(adapter, 'deleted', 'd', options)
    const publisher = await instance(broker.url, key, 'publisher')
    await publishAll(publisher, ['first'])
    await waitAllGot([member], ['first'])
    // RabbitMQ cancels the consumer (basic.cancel) and leaves the member's channel open.
    await rabbitmqctl(broker, 'delete_queue', `${key}.group.deleted`)
    await rejoined(publisher, member, () => describeMembers([member]))
  })

  it('opens one group connection per heartbeat, shared by the groups asking for it, closed with its last member', async () => {
    const name = `share-${key}`
    const { adapter } = await instance(broker.url, key, name)
    const heartbeats = async () => {
      const rows = await rabbitmqRows(broker, 'list_connections', 'client_properties')
      const mine = rows.map((row) => row[0]).filter((properties) => properties.includes(name))
      return mine.map((properties) => /groups \(heartbeat (\d+) s\)/.exec(properties)?.[1] ?? 'main').sort()
    }
    // 10 s and 10.8 s both ask for a 5 s heartbeat (claimAfterMs / 2, rounded to whole seconds); 4 s for 2 s.
    await join(adapter, 'share-a', 'a', { ...options, claimAfterMs: 10_000 })
    await join(adapter, 'share-b', 'b', { ...options, claimAfterMs: 10_800 })
    const short = await join(adapter, 'share-c', 'c', { ...options, claimAfterMs: 4_000 })
    expect(await heartbeats()).toEqual(['2', '5', 'main'])
    await short.membership.leave()
    const deadline = Date.now() + 10_000
    let left = await heartbeats()
    while (left.includes('2') && Date.now() < deadline) left = await heartbeats()
    expect(left).toEqual(['5', 'main'])
  })
})
