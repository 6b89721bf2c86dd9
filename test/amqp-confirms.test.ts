/**
 * The AMQP adapter waits for the publisher confirms of one tick's messages at once (adapters/amqp/
 * confirms.ts). What must not change with that: a reconnect with a batch in flight loses nothing, and a
 * message over the broker's size limit is dropped alone, its batch-mates delivered. A private broker,
 * because the size limit is node-wide.
 */
import { rabbitmqctl, startRabbitMq, type BrokerHandle } from './brokers'
import { barrier, createFleet, teardownFleet, uniqueKey, waitFor, type TestApp } from './helpers/apps'
import { describing } from './helpers/fleet-state'
import { startGate, type Gate } from './helpers/gate'

jest.setTimeout(90_000)

const BATCH = 50

describe('amqp confirm batching against a private RabbitMQ', () => {
  let broker: BrokerHandle
  let gate: Gate | undefined
  let fleet: TestApp[] = []
  const about = (what: string) => describing(what, () => fleet)
  const options = (key: string, url = broker.url) => ({
    uri: url,
    key,
    errorReportIntervalMs: 0,
    amqpRecovery: { initialDelayMs: 50, maxDelayMs: 300 }
  })
  /** What `receiver` got of `marker`, as the `n` of each event in arrival order. */
  const got = (receiver: TestApp, marker: string) =>
    receiver.seen('created', marker).map((r) => (r.data as { n: number }).n)

  beforeAll(async () => {
    broker = await startRabbitMq()
  })
  afterEach(async () => {
    await teardownFleet(fleet)
    fleet = []
    await gate?.close()
    gate = undefined
  })
  afterAll(async () => {
    await broker?.stop()
  })

  it('sends a whole unconfirmed batch again after a reconnect: every event arrives once, in order', async () => {
    const key = uniqueKey('amqp-batch-reconnect')
    gate = await startGate(broker.port)
    const [receiver] = await createFleet(1, options(key))
    const [sender] = await createFleet(1, options(key, `amqp://guest:guest@127.0.0.1:${gate.port}`))
    fleet = [sender, receiver]
    await barrier(fleet, sender)
    const marker = uniqueKey('batch')
    const before = sender.app.sync.stats()
    // The link stalls: the batch leaves the sender but neither reaches the broker nor gets confirmed.
    gate.hold()
    const todos = sender.app.service('todos')
    await Promise.all(Array.from({ length: BATCH }, (_, n) => todos.create({ marker, n })))
    const open = gate
    await waitFor(about('the batch to leave the sender'), () => open.held().fromClients > BATCH * 100)
    open.cut()
    await waitFor(
      about('the sender to reconnect'),
      () => sender.app.sync.stats().reconnects > before.reconnects
    )
    await waitFor(
      about(`${BATCH} events at the receiver`),
      () => got(receiver, marker).length >= BATCH,
      20_000
    )
    await barrier(fleet, sender)
    expect(got(receiver, marker)).toEqual([...Array(BATCH).keys()])
    const after = sender.app.sync.stats()
    expect(after.publishErrors).toBe(0)
    expect(after.dropped.oversize).toBe(0)
  })

  it('drops only the oversize message of a batch; the others of the batch arrive once, in order', async () => {
    await rabbitmqctl(broker, 'eval', 'application:set_env(rabbit, max_message_size, 4096).')
    try {
      const key = uniqueKey('amqp-batch-oversize')
      // Channels read the limit when they open: these apps start after it was lowered.
      fleet = await createFleet(2, options(key))
      const [sender, receiver] = fleet
      await barrier(fleet, sender)
      const marker = uniqueKey('mixed')
      const todos = sender.app.service('todos')
      // One tick, one batch: ten small events around one over the limit.
      await Promise.all(
        Array.from({ length: 11 }, (_, n) =>
          todos.create({ marker, n, text: n === 5 ? 'x'.repeat(8_000) : 'small' })
        )
      )
      await waitFor(about('the oversize drop'), () => sender.app.sync.stats().dropped.oversize === 1)
      await waitFor(about('the sender to reconnect'), () => sender.app.sync.status === 'ready')
      await waitFor(about('10 events at the receiver'), () => got(receiver, marker).length >= 10, 20_000)
      await barrier(fleet, sender)
      expect(got(receiver, marker)).toEqual([0, 1, 2, 3, 4, 6, 7, 8, 9, 10])
      expect(sender.app.sync.stats().dropped.oversize).toBe(1)
      expect(sender.app.sync.stats().publishErrors).toBe(0)
    } finally {
      await rabbitmqctl(broker, 'eval', 'application:set_env(rabbit, max_message_size, 134217728).')
    }
  })
})
