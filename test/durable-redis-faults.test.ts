/**
 * Durable delivery on Redis through outages, each test on its own redis-server: the reader's connection
 * killed, gone silent (a hung server or a forgotten flow), cut off while retention moves on, Redis SIGKILLed and restarted with its append-only file;
 * and on a Redis Cluster (3 masters) started for this file.
 */
import { createRedisAdapter } from '../adapters/redis'
import { parseOptions } from '../src/engine/options'
import type { SyncOptions } from '../src/index'
import { redisCommand, startRedis, startRedisCluster, type BrokerHandle, type ClusterHandle } from './brokers'
import { uniqueKey } from './helpers/apps'
import {
  connectInstance,
  killReaders,
  publishAll,
  subscribe,
  texts,
  waitOn,
  type Instance
} from './helpers/durable'
import { startGate, type Gate } from './helpers/gate'

/** Status changes, without repeats (an adapter may tell a status again; see AdapterHooks.status). */
const changes = (statuses: string[]) => statuses.filter((status, i) => status !== statuses[i - 1])

let open: Instance[] = []
let broker: BrokerHandle | undefined
let gate: Gate | undefined

async function instance(name: string, options: SyncOptions): Promise<Instance> {
  const made = await connectInstance(name, createRedisAdapter(parseOptions(options)))
  open.push(made)
  return made
}

afterEach(async () => {
  await Promise.all(open.map(({ adapter }) => adapter.close()))
  open = []
  await gate?.close()
  await broker?.stop()
  gate = undefined
  broker = undefined
})

const positionsOf = (reader: Instance) => reader.messages.map(({ position }) => position)

describe('redis durable delivery through outages', () => {
  it('resumes right after the last message handed over when its connection is killed', async () => {
    broker = await startRedis()
    const key = uniqueKey('kill')
    const writer = await instance('writer', { uri: broker.url, key, durable: true })
    const reader = await instance('reader', { uri: broker.url, key, durable: true })
    await subscribe(reader, { kind: 'tail' })
    await publishAll(writer, texts('before', 100))
    await waitOn([reader], 'the first 100', () => reader.messages.length >= 100)

    expect(await killReaders(broker.port)).toBe(1)
    await waitOn([reader], 'the reader to notice', () => reader.statuses.at(-1) === 'reconnecting')
    // Published while the reader is away, then more once it is back.
    await publishAll(writer, texts('away', 50))
    await waitOn([reader], 'the reader to be ready again', () => reader.statuses.at(-1) === 'ready')
    await publishAll(writer, texts('back', 50))
    await waitOn([reader], 'all 200', () => reader.messages.length >= 200)

    expect(reader.texts()).toEqual([...texts('before', 100), ...texts('away', 50), ...texts('back', 50)])
    expect(changes(reader.statuses)).toEqual(['reconnecting', 'ready'])
    expect(reader.gaps).toEqual([])
  })

  it('notices a reader connection gone silent within its heartbeat bound, and resumes where it was', async () => {
    broker = await startRedis()
    gate = await startGate(broker.port)
    const key = uniqueKey('silent')
    // Each read blocks 1 s and must be answered within 1 s after that: 2 s at most.
    const heartbeat = { heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 1_000 }
    const writer = await instance('writer', { uri: broker.url, key, durable: true })
    const reader = await instance('reader', {
      uri: `redis://127.0.0.1:${gate.port}`,
      key,
      durable: true,
      ...heartbeat
    })
    await subscribe(reader, { kind: 'tail' })
    await publishAll(writer, texts('before', 50))
    await waitOn([reader], 'the first 50', () => reader.messages.length >= 50)

    // Only the reader's connection goes silent: its publisher still answers every PING.
    expect(gate.silence(/XREAD/i)).toBe(1)
    const silencedAt = Date.now()
    await waitOn([reader], 'the reader to notice', () => reader.statuses.at(-1) === 'reconnecting', 8_000)
    const noticedMs = Date.now() - silencedAt
    await publishAll(writer, texts('away', 50))
    await waitOn([reader], 'the reader to be ready again', () => reader.statuses.at(-1) === 'ready')
    await publishAll(writer, texts('back', 50))
    await waitOn([reader], 'all 150', () => reader.messages.length >= 150)

    // Two heartbeats, plus a margin for a loaded machine.
    expect({ noticedMs, within: noticedMs < 2_000 + 2_000 }).toEqual({ noticedMs, within: true })
    expect(reader.texts()).toEqual([...texts('before', 50), ...texts('away', 50), ...texts('back', 50)])
    expect(changes(reader.statuses)).toEqual(['reconnecting', 'ready'])
    expect(reader.gaps).toEqual([])
  })

  it('reports the gap when retention moved past a reader that was cut off', async () => {
    broker = await startRedis()
    gate = await startGate(broker.port)
    const key = uniqueKey('cut')
    const writer = await instance('writer', { uri: broker.url, key, durable: { maxMessages: 10 } })
    const reader = await instance('reader', { uri: `redis://127.0.0.1:${gate.port}`, key, durable: true })
    await subscribe(reader, { kind: 'tail' })
    await publishAll(writer, texts('before', 5))
    await waitOn([reader], 'the first five', () => reader.messages.length >= 5)
    const last = reader.messages[4].position

    gate.block()
    gate.cut()
    await waitOn([reader], 'the reader to notice', () => reader.statuses.at(-1) === 'reconnecting')
    await publishAll(writer, texts('away', 300))
    const kept = await writer.adapter.readRange('0-0', 1_000)
    expect(kept.length).toBeLessThan(300)
    gate.open()
    // Both of the reader's connections went through the gate: `ready` once both are back.
    await waitOn(
      [reader],
      'the retained messages and ready',
      () => reader.messages.length >= 5 + kept.length && reader.statuses.at(-1) === 'ready'
    )

    expect(reader.gaps).toEqual([
      { after: last, firstAvailable: kept[0].position, missing: undefined, reason: 'retention' }
    ])
    expect(positionsOf(reader).slice(5)).toEqual(kept.map(({ position }) => position))
    expect(changes(reader.statuses)).toEqual(['reconnecting', 'ready'])
  })

  it('keeps what it confirmed across kill -9 with appendfsync always, and the reader resumes', async () => {
    broker = await startRedis({ extraArgs: ['--appendonly', 'yes', '--appendfsync', 'always'] })
    expect(await redisCommand(broker.port, ['INFO', 'persistence'])).toContain('aof_enabled:1')
    const key = uniqueKey('restart')
    const writer = await instance('writer', { uri: broker.url, key, durable: true })
    const reader = await instance('reader', { uri: broker.url, key, durable: true })
    // The writer subscribes too, as every engine instance does: status reports start with the subscription.
    await Promise.all([subscribe(writer, { kind: 'tail' }), subscribe(reader, { kind: 'tail' })])
    const before = await publishAll(writer, texts('before', 50))
    await broker.kill('SIGKILL')

    await waitOn([writer, reader], 'both to notice', () =>
      [writer, reader].every(({ statuses }) => statuses.at(-1) === 'reconnecting')
    )
    // Told `reconnecting` before the publish is rejected, so an engine queues instead of counting a loss.
    const failed = await writer.adapter.publishDurable('lost').then(
      () => 'stored',
      () => writer.statuses.at(-1)
    )
    expect(failed).toBe('reconnecting')

    await broker.restart()
    await waitOn([writer, reader], 'both to be ready', () =>
      [writer, reader].every(({ statuses }) => statuses.at(-1) === 'ready')
    )
    expect((await writer.adapter.readRange('0-0', 1_000)).map(({ position }) => position)).toEqual(before)
    await publishAll(writer, texts('after', 50))
    await waitOn([reader], 'all 100', () => reader.messages.length >= 100)
    expect(reader.texts()).toEqual([...texts('before', 50), ...texts('after', 50)])
    expect(reader.gaps).toEqual([])
  })
})

describe('redis durable delivery on a Redis Cluster', () => {
  let cluster: ClusterHandle

  beforeAll(async () => {
    cluster = await startRedisCluster()
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it('keeps the stream and positions in one slot, delivers, and resumes after a killed reader', async () => {
    const key = uniqueKey('cluster')
    const options = { clusterNodes: cluster.nodes, key }
    const writer = await instance('writer', { ...options, durable: true })
    const reader = await instance('reader', { ...options, durable: { consumerName: 'pod-0' } })
    await subscribe(reader, { kind: 'tail' })
    const [port] = cluster.nodes.map((node) => node.port)
    const slots = await Promise.all(
      [`{${key}}:log`, `{${key}}:pos:pod-0`].map((name) => redisCommand(port, ['CLUSTER', 'KEYSLOT', name]))
    )
    expect(slots[0]).toBe(slots[1])

    await publishAll(writer, texts('before', 20))
    await waitOn([reader], 'the first 20', () => reader.messages.length >= 20)
    await reader.adapter.savePosition('pod-0', reader.messages[9].position)
    expect(await writer.adapter.loadPosition('pod-0')).toBe(reader.messages[9].position)

    const killed = await Promise.all(cluster.nodes.map((node) => killReaders(node.port)))
    expect(killed.reduce((sum, count) => sum + count, 0)).toBe(1)
    await publishAll(writer, texts('after', 20))
    await waitOn([reader], 'all 40', () => reader.messages.length >= 40)
    expect(reader.texts()).toEqual([...texts('before', 20), ...texts('after', 20)])
    expect(reader.gaps).toEqual([])

    const late = await instance('late', { ...options, durable: true })
    await subscribe(late, { kind: 'after', position: reader.messages[9].position })
    await waitOn([late], 'the 30 after the saved position', () => late.messages.length >= 30)
    expect(late.texts()).toEqual(reader.texts().slice(10))
  })
})
