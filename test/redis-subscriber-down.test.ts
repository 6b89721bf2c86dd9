/**
 * Only the subscriber connection of an instance is down (Redis cut it over `client-output-buffer-limit`,
 * an operator's `CLIENT KILL`, a proxy) while its publisher connection is fine. The instance says
 * `reconnecting` (it misses events meanwhile), but what it publishes must still reach the others at once
 * instead of waiting in its outbox for its own subscription. Once the publisher is down too, publishes
 * wait in the outbox as usual and go out when it is back.
 * A private redis-server, since CLIENT KILL would also hit the other test files' connections.
 */
import { startRedis, redisCommand, type BrokerHandle } from './brokers'
import { createFleet, teardownFleet, uniqueKey, waitFor, type TestApp } from './helpers/apps'
import { describing } from './helpers/fleet-state'
import { startGate, type Gate } from './helpers/gate'

jest.setTimeout(60_000)

let broker: BrokerHandle | undefined
let gate: Gate | undefined
let fleet: TestApp[] = []
const NAMES = ['gated', 'direct']
const about = (what: string) => describing(what, () => fleet, NAMES)

afterEach(async () => {
  await teardownFleet(fleet)
  fleet = []
  await gate?.close()
  await broker?.stop()
  gate = undefined
  broker = undefined
})

/** Kills the connection named `name` that is (`subscribed`) or is not subscribed to a channel. */
async function killConnection(port: number, name: string, subscribed: boolean): Promise<void> {
  const list = await redisCommand(port, ['CLIENT', 'LIST'], 2_000)
  const line = list
    .split('\n')
    .find((row) => row.includes(` name=${name} `) && / sub=[1-9]/.test(row) === subscribed)
  const id = line && /(?:^|\s)id=(\d+)/.exec(line)?.[1]
  if (!id) throw new Error(`no ${subscribed ? 'subscriber' : 'publisher'} connection named ${name}:\n${list}`)
  expect(await redisCommand(port, ['CLIENT', 'KILL', 'ID', id])).toBe('1')
}

describe('redis: the subscriber connection down, the publisher up', () => {
  it('keeps publishing at once while only its subscription is away; queues once the publisher is down too', async () => {
    broker = await startRedis()
    gate = await startGate(broker.port)
    const key = uniqueKey('redis-sub-down')
    const common = { key, errorReportIntervalMs: 0, includeResult: false }
    const [gated] = await createFleet(1, {
      ...common,
      uri: `redis://127.0.0.1:${gate.port}`,
      redisOptions: { connectionName: 'gated' }
    })
    const [direct] = await createFleet(1, { ...common, uri: broker.url })
    fleet = [gated, direct]
    const statuses: string[] = []
    gated.app.on('sync-status', ({ status }: { status: string }) => statuses.push(status))
    const reconnects = gated.app.sync.stats().reconnects

    // The gate refuses new connections, so the gated instance's subscriber cannot come back.
    gate.block()
    await killConnection(broker.port, 'gated', true)
    await waitFor(about('the gated instance to notice'), () => gated.app.sync.status === 'reconnecting')
    await gated.app.service('todos').create({ marker: 'subscriber-down' })
    await waitFor(about('the event sent while only the subscriber is down'), () => {
      return direct.seen('created', 'subscriber-down').length === 1
    })
    expect({ status: gated.app.sync.status, outbox: gated.app.sync.stats().outbox.messages }).toEqual({
      status: 'reconnecting',
      outbox: 0
    })

    // Now the publisher too: a publish waits in the outbox until the connection is back (sent before or
    // after ioredis sees the close, it is refused and queued).
    await killConnection(broker.port, 'gated', false)
    await gated.app.service('todos').create({ marker: 'both-down' })
    await waitFor(about('the event sent with both down to wait in the outbox'), () => {
      return gated.app.sync.stats().outbox.messages === 1
    })
    expect(direct.seen('created', 'both-down')).toHaveLength(0)

    gate.open()
    await waitFor(about('the gated instance to be ready again'), () => gated.app.sync.status === 'ready')
    await waitFor(about('the queued event'), () => direct.seen('created', 'both-down').length === 1)
    await direct.app.service('todos').create({ marker: 'after' })
    await waitFor(
      about('an event from the other instance'),
      () => gated.seen('created', 'after').length === 1
    )
    expect({
      subscriberDown: direct.seen('created', 'subscriber-down').length,
      bothDown: direct.seen('created', 'both-down').length,
      statuses,
      reconnects: gated.app.sync.stats().reconnects - reconnects
    }).toEqual({ subscriberDown: 1, bothDown: 1, statuses: ['reconnecting', 'ready'], reconnects: 1 })
  })
})
