/**
 * The AMQP topology taken away under running instances: the exchange deleted (and maybe declared again)
 * or their queues deleted, as an ops script or a cleanup job would. RabbitMQ tells a consumer nothing
 * when the exchange goes, so an instance that does not publish must find out by itself. One private
 * broker for the file (rabbitmqctl needs its node name and cookie).
 */
import { connect, type ChannelModel } from 'amqplib'
import { SyncSubscriptionError, type SyncOptions, type SyncStatusEvent } from '../src/index'
import { rabbitmqctl, rabbitmqRows, startRabbitMq, type BrokerHandle } from './brokers'
import { barrier, createFleet, teardownFleet, uniqueKey, waitFor, type TestApp } from './helpers/apps'

jest.setTimeout(60_000)

// Both under 10 s: the default check interval (2 s) plus a reconnect, with room for a loaded machine.
const HEAL_TIMEOUT_MS = 10_000

let broker: BrokerHandle
let admin: ChannelModel
let fleet: TestApp[] = []
let statuses: string[][] = []

beforeAll(async () => {
  broker = await startRabbitMq()
  admin = await connect(broker.url)
})
afterEach(async () => {
  await teardownFleet(fleet)
  fleet = []
})
afterAll(async () => {
  await admin?.close()
  await broker?.stop()
})

/** Three instances on `key`, with the default topology check; each one's status changes are recorded. */
async function threeInstances(key: string): Promise<TestApp[]> {
  const options: SyncOptions = {
    uri: broker.url,
    key,
    amqpRecovery: { initialDelayMs: 50, maxDelayMs: 300 }
  }
  fleet = await createFleet(3, options)
  statuses = fleet.map(({ app }) => {
    const seen: string[] = []
    app.on('sync-status', ({ status }: SyncStatusEvent) => seen.push(status))
    return seen
  })
  return fleet
}

const describeFleet = (): string =>
  fleet
    .map(({ app, errors }, i) => {
      const { reconnects, received, delivered, publishErrors } = app.sync.stats()
      const counters = `reconnects ${reconnects}, received ${received}, delivered ${delivered}, publishErrors ${publishErrors}`
      return `instance ${i}: status ${app.sync.status} (went ${statuses[i].join(' > ') || 'nowhere'}), ${counters}, errors [${errors.map((e) => e.message).join(' | ')}]`
    })
    .join('\n')

/** waitFor, failing with the state of every instance. */
async function waitForFleet(what: string, check: () => boolean): Promise<void> {
  try {
    await waitFor(what, check, HEAL_TIMEOUT_MS)
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${describeFleet()}`)
  }
}

/** Each instance sends one event; every instance then has each of them exactly once. */
async function deliversEachOnce(): Promise<void> {
  const markers = fleet.map((_, i) => uniqueKey(`after-${i}`))
  for (const [i, member] of fleet.entries()) await member.app.service('todos').create({ marker: markers[i] })
  for (const member of fleet) await barrier(fleet, member)
  for (const [i, member] of fleet.entries()) {
    const counts = markers.map((marker) => member.seen('created', marker).length)
    expect({ instance: i, counts }).toEqual({ instance: i, counts: [1, 1, 1] })
  }
}

const bindingsOf = async (key: string): Promise<string[][]> =>
  (await rabbitmqRows(broker, 'list_bindings', 'source_name', 'destination_name')).filter(
    ([source]) => source === key
  )

describe('amqp: the topology deleted under three instances', () => {
  it('every instance notices a deleted exchange within seconds, says so, rebuilds, and gets each later event once', async () => {
    const key = uniqueKey('amqp-gone')
    await threeInstances(key)
    const channel = await admin.createChannel()
    await channel.deleteExchange(key)
    await channel.close()

    // Nobody publishes: only the adapter's own check can find out.
    await waitForFleet('every instance to rebuild its topology', () =>
      fleet.every(({ app }) => app.sync.stats().reconnects === 1 && app.sync.status === 'ready')
    )
    for (const [i, member] of fleet.entries()) {
      expect({ instance: i, statuses: statuses[i] }).toEqual({
        instance: i,
        statuses: ['reconnecting', 'ready']
      })
      const told = member.errors.filter((error) => error instanceof SyncSubscriptionError)
      expect(told).toHaveLength(1)
      expect(told[0]).toMatchObject({ channel: key, code: 'SYNC_CONNECTION' })
      expect(told[0].message).toContain(`exchange "${key}"`)
    }
    await deliversEachOnce()
    // One binding per instance, none left over.
    expect(await bindingsOf(key)).toHaveLength(3)
  })

  it('binds again when the exchange was deleted and declared again before the instances looked', async () => {
    const key = uniqueKey('amqp-redeclared')
    const [sender, ...others] = await threeInstances(key)
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
    if (!heard()) throw new Error(`no instance bound again within ${HEAL_TIMEOUT_MS} ms\n${describeFleet()}`)
    expect(await bindingsOf(key)).toHaveLength(3)
    await deliversEachOnce()
  })

  it('every instance rebuilds when its queue is deleted, and gets each later event once', async () => {
    const key = uniqueKey('amqp-queue-gone')
    await threeInstances(key)
    const queues = (await bindingsOf(key)).map(([, queue]) => queue)
    expect(queues).toHaveLength(3)
    await Promise.all(queues.map((queue) => rabbitmqctl(broker, 'delete_queue', queue)))

    await waitForFleet('every instance to rebuild its queue', () =>
      fleet.every(({ app }) => app.sync.stats().reconnects === 1 && app.sync.status === 'ready')
    )
    for (const [i, member] of fleet.entries()) {
      expect({ instance: i, statuses: statuses[i] }).toEqual({
        instance: i,
        statuses: ['reconnecting', 'ready']
      })
      const told = member.errors.filter((error) => error instanceof SyncSubscriptionError)
      expect(told).toHaveLength(1)
      expect(told[0].message).toMatch(/queue of this instance .* was deleted/)
    }
    await deliversEachOnce()
    const now = (await bindingsOf(key)).map(([, queue]) => queue)
    expect(now).toHaveLength(3)
    expect(now.filter((queue) => queues.includes(queue))).toEqual([])
  })
})
