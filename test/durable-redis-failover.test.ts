/**
 * Durable delivery on a Redis Cluster (3 masters, one replica each, `cluster-node-timeout` 1 s, started
 * for each test) whose master holding the stream is killed with SIGKILL while three buses publish 200
 * events/s each; its replica takes over. Every event whose `XADD` returned must reach every other bus once,
 * in order per sender, unless Redis itself lost it (replication is asynchronous), and then the loss must be
 * reported as a gap. Publishes that failed are resent by the outbox.
 */
import { Cluster } from 'ioredis'
import { createRedisAdapter } from '../adapters/redis'
import { compareIds } from '../adapters/redis/positions'
import { parseOptions } from '../src/engine/options'
import type { DurableLog } from '../src/adapter'
import { redisCommand, startRedisCluster, type BrokerHandle, type ClusterHandle } from './brokers'
import { uniqueKey, waitFor } from './helpers/apps'
import { connectInstance, publishAll, subscribe, texts, waitOn, type Instance } from './helpers/durable'
import { clusterNodes, openMember, ownerOf, publishSteadily, type Member } from './helpers/cluster-failover'

const NODE_TIMEOUT_MS = 1_000
const EVERY_MS = 5 // 200 events/s per bus

let cluster: ClusterHandle | undefined
let members: Member[] = []
let late: Instance | undefined
let opened: Instance[] = []

beforeEach(async () => {
  cluster = await startRedisCluster({
    replicas: 1,
    nodeTimeoutMs: NODE_TIMEOUT_MS,
    // A replica cut off from its master for longer than node timeout × 10 + 10 s (Redis' default
    // `cluster-replica-validity-factor` 10, `repl-ping-replica-period` 10 s) refuses to take over, and the
    // slot stays down for good. On a slow machine the cut-off cases come near that; their premise is that
    // the replica does take over (see redis.conf on cluster-replica-validity-factor).
    extraArgs: ['--cluster-replica-validity-factor', '0']
  })
}, 60_000)

afterEach(async () => {
  await Promise.all([late, ...opened].map((instance) => instance?.adapter.close()))
  late = undefined
  opened = []
  await Promise.all(members.map(({ bus }) => bus.close()))
  members = []
  await cluster?.stop()
  cluster = undefined
})

const state = () => members.map((member) => member.describe()).join('; ')
const within = (what: string, check: () => boolean, timeoutMs: number) =>
  waitFor(() => `${what} (${state()})`, check, timeoutMs)

/** What the stream holds now (entry ids and `from:n` of each event), read through a Cluster client of the test's own. */
async function stored(nodes: ClusterHandle['nodes'], stream: string) {
  const client = new Cluster(nodes)
  try {
    const ids = new Set<string>()
    const events = new Set<string>()
    for (let from = '-', pages = 0; pages < 1_000; pages++) {
      const entries = await client.xrange(stream, from, '+', 'COUNT', 1_000)
      for (const [id, fields] of entries) {
        const { data } = JSON.parse(fields[1]) as { data: { from: string; n: number } }
        ids.add(id)
        events.add(`${data.from}:${data.n}`)
      }
      if (entries.length < 1_000) return { ids, events }
      from = `(${entries[entries.length - 1][0]}`
    }
    throw new Error('the stream did not end within 1,000 pages')
  } finally {
    client.disconnect()
  }
}

/** The broker handle of the node listening on `port`. */
function brokerAt(port: number): BrokerHandle {
  const broker = cluster?.brokers.find((handle) => handle.port === port)
  if (!broker) throw new Error(`no node on port ${port}`)
  return broker
}

/** Numbers each sender published that `member` did not receive, as `from:n`. */
const missingAt = (member: Member): string[] =>
  members
    .filter((other) => other !== member)
    .flatMap((other) => {
      const got = new Set(member.received.get(other.name))
      return Array.from({ length: other.published }, (_, n) => n)
        .filter((n) => !got.has(n))
        .map((n) => `${other.name}:${n}`)
    })

/** Waits until the replica on `replica` says it is a master, after the master on `master` died. */
async function promotion(replica: number, master: number): Promise<void> {
  let promoted = false
  await waitFor(
    `the replica on ${replica} to take over from the master on ${master}`,
    () => {
      void clusterNodes(replica).then(
        (seen) => (promoted = seen.some((node) => node.port === replica && node.flags.includes('master'))),
        () => undefined
      )
      return promoted
    },
    20_000
  )
}

/**
 * Runs the failover and returns how many confirmed entries the stream lost. With `lag`, the replica is
 * paused and the master drops its link to it (`CLIENT KILL TYPE replica`) before the master is killed, so
 * that publishes the master confirms meanwhile never reach the replica: Redis loses them, by design.
 */
async function failover(lag: boolean): Promise<number> {
  if (!cluster) throw new Error('no cluster')
  const { nodes } = cluster
  const key = uniqueKey('failover')
  const stream = `{${key}}:log`
  const adapter = () =>
    createRedisAdapter(parseOptions({ clusterNodes: nodes, key, durable: true })) as ReturnType<
      typeof createRedisAdapter
    > &
      DurableLog
  members = await Promise.all(['a', 'b', 'c'].map((name) => openMember(name, adapter(), key)))
  const stops = members.map((member) => publishSteadily(member, EVERY_MS))
  const heard = (count: number) =>
    members.every((member) =>
      members.every((other) => other === member || (member.received.get(other.name)?.length ?? 0) >= count)
    )
  await within('each bus to hear 50 events of each other', () => heard(50), 20_000)

  const { master, replica } = await ownerOf(nodes[0].port, stream)
  if (lag) {
    brokerAt(replica.port).pause()
    expect(await redisCommand(master.port, ['CLIENT', 'KILL', 'TYPE', 'replica'])).toBe('1')
    const marks = members.map((member) => member.confirmed.length)
    await within(
      'publishes confirmed while the replica is cut off',
      () => members.every((m, i) => m.confirmed.length >= marks[i] + 20),
      10_000
    )
  }
  await brokerAt(master.port).kill('SIGKILL')
  const killedAt = Date.now()
  if (lag) brokerAt(replica.port).resume()
  const atKill = members.map((member) => member.confirmed.length)

  await promotion(replica.port, master.port)
  const failoverMs = Date.now() - killedAt
  await within(
    'publishes confirmed again',
    () => members.every((m, i) => m.confirmed.length >= atKill[i] + 100),
    30_000
  )
  stops.forEach((stop) => stop())
  // Everything published is confirmed at last (the first time or resent by the outbox).
  const confirmedAll = (member: Member) =>
    new Set(member.confirmed.map(({ n }) => n)).size === member.published
  await within('every publish confirmed', () => members.every(confirmedAll), 30_000)
  const readyMs = Date.now() - killedAt

  const log = await stored(nodes, stream)
  const lostIds = members.flatMap((m) => m.confirmed.filter(({ id }) => id === undefined || !log.ids.has(id)))
  // Confirmed events the stream holds under no id at all: lost for good.
  const unrecovered = new Set(
    members.flatMap((m) => m.confirmed.map(({ n }) => `${m.name}:${n}`).filter((e) => !log.events.has(e)))
  )
  await within(
    'every bus to receive every stored event',
    () => members.every((member) => missingAt(member).every((event) => unrecovered.has(event))),
    30_000
  )
  const caughtUpMs = Date.now() - killedAt
  await within('every bus ready', () => members.every((member) => member.bus.status === 'ready'), 10_000)
  const readyAgainMs = Math.max(...members.map((member) => member.readyAt)) - killedAt

  // An instance that was away over the failover (restarted with its name) reads on from a position saved
  // before it: it must find every confirmed event after that position, whoever had already read it.
  const from = members[0].confirmed[10].id as string
  const expected = members.flatMap((m) =>
    m.confirmed
      .filter(({ id }) => id !== undefined && compareIds(id, from) > 0)
      .map(({ n }) => `${m.name}:${n}`)
  )
  late = await connectInstance(
    'late',
    createRedisAdapter(parseOptions({ clusterNodes: nodes, key, durable: true }))
  )
  await subscribe(late, { kind: 'after', position: from })
  const eventsOf = (instance: Instance) =>
    new Set(
      instance.texts().map((text) => {
        const { data } = JSON.parse(text) as { data: { from: string; n: number } }
        return `${data.from}:${data.n}`
      })
    )
  const lateMissing = () => {
    const got = eventsOf(late as Instance)
    return expected.filter((event) => !got.has(event) && !unrecovered.has(event))
  }
  await within(`the late reader to read on (${late.describe()})`, () => lateMissing().length === 0, 20_000)
  console.log(
    `Redis Cluster failover${lag ? ' (replica cut off before the kill)' : ''}: replica master after ` +
      `${failoverMs} ms, every bus ready after ${readyAgainMs} ms, every publish confirmed after ${readyMs} ms, ` +
      `every bus caught up after ${caughtUpMs} ms; ` +
      `${lostIds.length} confirmed entries lost by Redis, ${unrecovered.size} of them not stored again; ${state()}`
  )

  const lateLost = expected.filter((event) => !eventsOf(late as Instance).has(event))
  expect({
    at: 'late',
    missing: lateLost.length,
    reported: lateLost.length === 0 || late.gaps.length > 0
  }).toEqual({
    at: 'late',
    missing: lateLost.length,
    reported: true
  })
  for (const member of members) {
    for (const [from, list] of member.received) {
      const bad = list.findIndex((n, i) => i > 0 && n <= list[i - 1])
      expect({ at: member.name, from, firstOutOfOrder: bad }).toEqual({
        at: member.name,
        from,
        firstOutOfOrder: -1
      })
    }
    // Only what Redis lost for good may be missing, and then a gap says so.
    const missing = missingAt(member)
    const notLost = missing.filter((event) => !unrecovered.has(event))
    expect({ at: member.name, notLost }).toEqual({ at: member.name, notLost: [] })
    const reported = missing.length === 0 || member.gaps.length > 0
    expect({ at: member.name, missing: missing.length, reported }).toEqual({
      at: member.name,
      missing: missing.length,
      reported: true
    })
    const { publishErrors } = member.bus.stats()
    expect({ at: member.name, publishErrors }).toEqual({ at: member.name, publishErrors: 0 })
  }
  return lostIds.length
}

it('delivers every confirmed publish once when the master holding the stream fails over', async () => {
  await failover(false)
}, 120_000)

it('stores again what Redis lost when the replica was cut off before the master died', async () => {
  // The scenario works only if Redis did lose confirmed entries. (No gap is expected, but one is not
  // asserted against: 2 of about 10 runs once saw one, reported by the trim check after the failover;
  // a missing key read as an empty stream could do that and no longer does, but that this was the cause
  // is not shown. See docs/redis.md, "Spurious gaps".)
  expect(await failover(true)).toBeGreaterThan(0)
}, 120_000)

it('reports a gap when Redis lost more confirmed publishes than an instance keeps', async () => {
  if (!cluster) throw new Error('no cluster')
  const { nodes } = cluster
  const key = uniqueKey('overflow')
  const open = async (name: string) => {
    const options = parseOptions({ clusterNodes: nodes, key, durable: true, errorReportIntervalMs: 0 })
    const instance = await connectInstance(name, createRedisAdapter(options))
    opened.push(instance)
    return instance
  }
  const writer = await open('writer')
  await subscribe(writer, { kind: 'tail' })
  const before = await publishAll(writer, texts('before', 10))
  const { master, replica } = await ownerOf(nodes[0].port, `{${key}}:log`)
  brokerAt(replica.port).pause()
  expect(await redisCommand(master.port, ['CLIENT', 'KILL', 'TYPE', 'replica'])).toBe('1')
  // More than the 2,000 an instance keeps, all confirmed by the master alone.
  await publishAll(writer, texts('cut', 2_100))
  // Its own reader has them all from the master, so it gets the last one twice: once more when stored again.
  await waitOn(
    [writer],
    'the writer to read what it published',
    () => writer.texts().includes('cut-2099'),
    20_000
  )
  await brokerAt(master.port).kill('SIGKILL')
  brokerAt(replica.port).resume()
  await promotion(replica.port, master.port)

  // Nothing published after the kill: the master's connection leaving the pool starts the recovery.
  const restoredAll = () => writer.texts().filter((text) => text === 'cut-2099').length === 2
  await waitOn([writer], 'the writer to store again what it keeps', restoredAll, 30_000)
  const reader = await open('reader')
  await subscribe(reader, { kind: 'after', position: before[9] })
  await waitOn([reader], 'the reader to read on', () => reader.texts().includes('cut-2099'), 20_000)
  // The first 100 are gone for good and reported as a gap; the last 2,000 were stored again.
  expect(reader.texts()).toEqual(texts('cut', 2_100).slice(100))
  expect(reader.gaps).toContainEqual(expect.objectContaining({ after: before[9], missing: undefined }))
  expect(writer.gaps.length).toBeGreaterThan(0)
  const told = writer.errors.map((error) => error.message).filter((text) => /lost 2000 confirmed/.test(text))
  expect(told).toEqual([expect.stringMatching(/older ones, no longer kept, may be lost too/)])
}, 120_000)
