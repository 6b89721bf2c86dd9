/**
 * Redis closing the adapter's connections itself, as an operator's `CLIENT KILL` (or a `timeout`, or a
 * proxy) does while the server stays up: the subscriber (`TYPE pubsub`) or the publisher (`TYPE normal`).
 * A private redis-server, since CLIENT KILL would also hit the other test files' connections.
 */
import { createRedisAdapter } from '../adapters/redis'
import { parseOptions } from '../src/engine/options'
import { startRedis, redisCommand, type BrokerHandle } from './brokers'
import { createFleet, teardownFleet, uniqueKey, waitFor } from './helpers/apps'
import { connectInstance, waitOn, type Instance } from './helpers/durable'
import { startGate } from './helpers/gate'
import { deliversEachOnce, waitForFleet, watch, type WatchedFleet } from './helpers/watch'

jest.setTimeout(60_000)

const HEAL_TIMEOUT_MS = 10_000

let broker: BrokerHandle
let fleet: WatchedFleet | undefined

beforeAll(async () => {
  broker = await startRedis()
})
afterEach(async () => {
  if (fleet) await teardownFleet(fleet.members)
  fleet = undefined
})
afterAll(async () => {
  await broker?.stop()
})

async function threeInstances(key: string): Promise<WatchedFleet> {
  fleet = watch(await createFleet(3, { uri: broker.url, key }))
  return fleet
}

/** Every instance went reconnecting, then ready, once since it was watched. */
async function backOnce(watched: WatchedFleet): Promise<void> {
  await waitForFleet(
    watched,
    'every instance to be back',
    () =>
      watched.members.every(
        ({ app }, i) =>
          app.sync.stats().reconnects === watched.reconnects[i] + 1 && app.sync.status === 'ready'
      ),
    HEAL_TIMEOUT_MS
  )
  for (const [i, statuses] of watched.statuses.entries()) {
    expect({ instance: i, statuses }).toEqual({ instance: i, statuses: ['reconnecting', 'ready'] })
  }
}

describe('redis: connections killed by the server', () => {
  it('subscribes again after CLIENT KILL TYPE pubsub, says reconnecting then ready, and gets each later event once', async () => {
    const key = uniqueKey('redis-kill-sub')
    const watched = await threeInstances(key)
    // The subscriber connections only: the publishers stay up.
    expect(await redisCommand(broker.port, ['CLIENT', 'KILL', 'TYPE', 'pubsub'])).toBe('3')
    await backOnce(watched)
    // Three subscriber connections again, each on the one channel: none left over, none doubled.
    const subscribers = await redisCommand(broker.port, ['CLIENT', 'LIST', 'TYPE', 'pubsub'])
    const lines = subscribers.split('\n').filter((line) => line.trim() !== '')
    expect(lines.map((line) => / sub=(\d+) /.exec(line)?.[1])).toEqual(['1', '1', '1'])
    await deliversEachOnce(watched)
  })

  it('reconnects the publisher after CLIENT KILL TYPE normal, and sends what was published meanwhile once', async () => {
    const watched = await threeInstances(uniqueKey('redis-kill-pub'))
    const [sender, ...others] = watched.members
    // Skips the connection that sends it (SKIPME yes): exactly the three publishers.
    expect(await redisCommand(broker.port, ['CLIENT', 'KILL', 'TYPE', 'normal'])).toBe('3')
    const meanwhile = uniqueKey('meanwhile')
    await sender.app.service('todos').create({ marker: meanwhile })
    await backOnce(watched)
    await waitForFleet(
      watched,
      'the event published meanwhile',
      () => others.every((member) => member.seen('created', meanwhile).length === 1),
      HEAL_TIMEOUT_MS
    )
    await deliversEachOnce(watched)
    for (const member of watched.members) expect(member.seen('created', meanwhile)).toHaveLength(1)
    // It was queued and sent again, not reported as a failed publish.
    expect(sender.app.sync.stats().publishErrors).toBe(0)
  })

  it('fails what was in flight on a cut publisher connection at once: no late "hung" report on the new socket', async () => {
    // A stalled link (held both ways) with a publish and a heartbeat PING in flight, then cut. ioredis
    // (autoResendUnfulfilledCommands off) neither resends nor settles those; before the fix only the
    // command timeout rejected them, so the PING, answered by no one, marked the new, healthy connection
    // as hung `heartbeatTimeoutMs` after the cut: a second `reconnecting`.
    const TIMEOUT_MS = 1_500
    const gate = await startGate(broker.port)
    let instance: Instance | undefined
    try {
      const options = parseOptions({
        uri: `redis://127.0.0.1:${gate.port}`,
        key: uniqueKey('redis-inflight'),
        heartbeatIntervalMs: 100,
        heartbeatTimeoutMs: TIMEOUT_MS
      })
      instance = await connectInstance('redis', createRedisAdapter(options))
      const seen = instance
      await seen.adapter.subscribe(() => undefined)
      gate.hold()
      const publish = 'PUBLISH'.length
      const inflight = Promise.resolve(seen.adapter.publish('in flight')).then(
        () => 'sent',
        (error: Error) => error.message
      )
      // The publish and at least one PING per connection reached the (stalled) link.
      await waitFor('a publish and PINGs in flight', () => gate.held().fromClients > publish + 3 * 14, 5_000)
      const cutAt = Date.now()
      gate.cut()
      expect(await inflight).toBe('Connection is closed.')
      await waitOn(
        [seen],
        'the adapter to be ready again',
        () => seen.statuses.at(-1) === 'ready',
        HEAL_TIMEOUT_MS
      )
      // Past the moment the PING cut in flight would have timed out, with a margin of several beats.
      await new Promise((resolve) => setTimeout(resolve, cutAt + TIMEOUT_MS + 1_000 - Date.now()))
      // Nothing after being ready again (the adapter may repeat `reconnecting` while it is away).
      const back = seen.statuses.indexOf('ready')
      expect({
        after: seen.statuses.slice(back + 1),
        hung: seen.errors.filter((e) => /PING/.test(String(e.cause)))
      }).toEqual({
        after: [],
        hung: []
      })
    } finally {
      await instance?.adapter.close()
      await gate.close()
    }
  })
})
