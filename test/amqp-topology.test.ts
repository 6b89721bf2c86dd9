/**
 * The AMQP topology taken away under running instances: the exchange deleted (and maybe declared again)
 * or their queues deleted, as an ops script or a cleanup job would. RabbitMQ tells a consumer nothing
 * when the exchange goes, so an instance that does not publish must find out by itself. One private
 * broker for the file (rabbitmqctl needs its node name and cookie).
 */
import { connect, type ChannelModel } from 'amqplib'
import { SyncSubscriptionError } from '../src/index'
import { rabbitmqctl, rabbitmqRows, startRabbitMq, type BrokerHandle } from './brokers'
import { createFleet, teardownFleet, uniqueKey } from './helpers/apps'
import { deliversEachOnce, describeFleet, waitForFleet, watch, type WatchedFleet } from './helpers/watch'

jest.setTimeout(60_000)

// The default check interval (2 s) plus a reconnect, with room for a loaded machine.
const HEAL_TIMEOUT_MS = 10_000

let broker: BrokerHandle
let admin: ChannelModel
let fleet: WatchedFleet | undefined

beforeAll(async () => {
  broker = await startRabbitMq()
  admin = await connect(broker.url)
})
afterEach(async () => {
  if (fleet) await teardownFleet(fleet.members)
  fleet = undefined
})
afterAll(async () => {
  await admin?.close()
  await broker?.stop()
})

/** Three instances on `key`, with the default topology check, their status changes recorded. */
async function threeInstances(key: string): Promise<WatchedFleet> {
  const members = await createFleet(3, {
    uri: broker.url,
    key,
    amqpRecovery: { initialDelayMs: 50, maxDelayMs: 300 }
  })
  fleet = watch(members)
  return fleet
}

/** The queues bound to `key`, as the broker lists them. */
const boundQueues = async (key: string): Promise<string[]> =>
  (await rabbitmqRows(broker, 'list_bindings', 'source_name', 'destination_name'))
    .filter(([source]) => source === key)
    .map(([, queue]) => queue)

/** Waits (bounded) until the broker lists `count` queues bound to `key`, and returns them. */
async function bound(watched: WatchedFleet, key: string, count: number): Promise<string[]> {
  const deadline = Date.now() + HEAL_TIMEOUT_MS
  let queues = await boundQueues(key)
  while (queues.length !== count && Date.now() < deadline) queues = await boundQueues(key)
  if (queues.length !== count) {
    throw new Error(`${key} has ${queues.length} bound queues, not ${count}\n${describeFleet(watched)}`)
  }
  return queues
}

/** Every instance went reconnecting, then ready, once, and was told why with a SyncSubscriptionError. */
async function rebuiltOnce(watched: WatchedFleet, key: string, why: RegExp): Promise<void> {
  await waitForFleet(
    watched,
    'every instance to rebuild its topology',
    () =>
      watched.members.every(({ app }) => app.sync.stats().reconnects === 1 && app.sync.status === 'ready'),
    HEAL_TIMEOUT_MS
  )
  for (const [i, member] of watched.members.entries()) {
    expect({ instance: i, statuses: watched.statuses[i] }).toEqual({
      instance: i,
      statuses: ['reconnecting', 'ready']
    })
    const told = member.errors.filter((error) => error instanceof SyncSubscriptionError)
    expect(told).toHaveLength(1)
    expect(told[0]).toMatchObject({ channel: key, code: 'SYNC_CONNECTION' })
    expect(told[0].message).toMatch(why)
  }
}

describe('amqp: the topology deleted under three instances', () => {
  it('every instance notices a deleted exchange within seconds, says so, rebuilds, and gets each later event once', async () => {
    const key = uniqueKey('amqp-gone')
    const watched = await threeInstances(key)
    const channel = await admin.createChannel()
    await channel.deleteExchange(key)
    await channel.close()

    // Nobody publishes: only the adapter's own check can find out.
    await rebuiltOnce(watched, key, new RegExp(`exchange "${key}" .* is gone`))
    await deliversEachOnce(watched)
    // One binding per instance, none left over.
    expect(await boundQueues(key)).toHaveLength(3)
  })

  it('binds again when the exchange was deleted and declared again before the instances looked', async () => {
    const key = uniqueKey('amqp-redeclared')
    const watched = await threeInstances(key)
    const [sender, ...others] = watched.members
    const channel = await admin.createChannel()
    await channel.deleteExchange(key)
    // Someone (an instance that published, a deploy script) declares it again at once: the instances'
    // queues are still bound to nothing.
    await channel.assertExchange(key, 'fanout', { durable: false })
    await channel.close()

    // Probes until each other instance hears one: bounded by the wait, one every 50 ms.
    const probe = uniqueKey('probe')
    const heard = () => others.every((member) => member.seen('created', probe).length > 0)
    const deadline = Date.now() + HEAL_TIMEOUT_MS
    while (!heard() && Date.now() < deadline) {
      await sender.app.service('todos').create({ marker: probe })
      await new Promise((resolve) => setTimeout(resolve, 50)) // paces the probes
    }
    if (!heard()) {
      throw new Error(`no instance bound again within ${HEAL_TIMEOUT_MS} ms\n${describeFleet(watched)}`)
    }
    expect(await boundQueues(key)).toHaveLength(3)
    await deliversEachOnce(watched)
  })

  it('every instance rebuilds when its queue is deleted, and gets each later event once', async () => {
    const key = uniqueKey('amqp-queue-gone')
    const watched = await threeInstances(key)
    const queues = await bound(watched, key, 3)
    await Promise.all(queues.map((queue) => rabbitmqctl(broker, 'delete_queue', queue)))

    await rebuiltOnce(watched, key, /queue of this instance .* was deleted/)
    await deliversEachOnce(watched)
    const now = await boundQueues(key)
    expect(now).toHaveLength(3)
    expect(now.filter((queue) => queues.includes(queue))).toEqual([])
  })
})
