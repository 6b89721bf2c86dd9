/**
 * A pub/sub subscriber that falls behind: Redis disconnects it once its output buffer passes
 * `client-output-buffer-limit pubsub`, and everything queued for it is gone. The loss must show: the
 * instance reports the disconnection (naming the limit), counts the messages it missed, and recovers.
 */
import { redisCommand, startRedis, type BrokerHandle } from './brokers'
import { createFleet, teardownFleet, uniqueKey, waitFor, type TestApp } from './helpers/apps'
import { expectRecoveredWithCountedLoss } from './helpers/cut-subscriber'
import { describing } from './helpers/fleet-state'
import { startGate, type Gate } from './helpers/gate'

let fleet: TestApp[] = []
let broker: BrokerHandle | undefined
let gate: Gate | undefined
const NAMES = ['receiver (slow)', 'sender']
const about = (what: string) => describing(what, () => fleet, NAMES)

afterEach(async () => {
  await teardownFleet(fleet)
  fleet = []
  await gate?.close()
  await broker?.stop()
  gate = undefined
  broker = undefined
})

/** Connections of the server subscribed to a channel (`CLIENT LIST` field `sub`). */
async function subscribers(port: number): Promise<number> {
  const list = await redisCommand(port, ['CLIENT', 'LIST'], 2_000)
  return list.split('\n').filter((line) => / sub=[1-9]/.test(line)).length
}

describe('redis pub/sub subscriber over the output buffer limit', () => {
  it('reports the disconnection and every missed message, recovers to ready and gets later events', async () => {
    broker = await startRedis()
    // Tiny on purpose: a subscriber more than 64 kB behind is dropped at once.
    await redisCommand(broker.port, ['CONFIG', 'SET', 'client-output-buffer-limit', 'pubsub 64kb 32kb 1'])
    gate = await startGate(broker.port)
    const key = uniqueKey('slow-subscriber')
    // No heartbeat on the receiver: Redis, not the adapter, is the one to cut it off here.
    const common = { key, errorReportIntervalMs: 0, includeResult: false }
    const [receiver] = await createFleet(1, {
      ...common,
      uri: `redis://127.0.0.1:${gate.port}`,
      heartbeatIntervalMs: 0
    })
    const [sender] = await createFleet(1, { ...common, uri: broker.url })
    fleet = [receiver, sender]
    const todos = sender.app.service('todos')
    const text = 'x'.repeat(32_768)
    await todos.create({ marker: 'before' })
    await waitFor(about('the first event'), () => receiver.seen('created', 'before').length === 1)

    const statuses: string[] = []
    receiver.app.on('sync-status', ({ status }: { status: string }) => statuses.push(status))
    gate.stall()
    // The kernel's socket buffers take several MB before Redis' own buffer grows: send until Redis
    // has dropped the receiver's subscriber connection (bounded: at most 60 rounds, about 40 MB).
    let sent = 0
    for (let round = 0; round < 60 && (await subscribers(broker.port)) > 1; round++) {
      await Promise.all(Array.from({ length: 20 }, () => todos.create({ marker: 'burst', i: sent++, text })))
    }
    expect({ subscribersLeft: await subscribers(broker.port), sent }).toEqual({ subscribersLeft: 1, sent })
    gate.flow()

    await expectRecoveredWithCountedLoss({
      receiver,
      sender,
      sent,
      statuses,
      about,
      cutReport: /client-output-buffer-limit/
    })
  })

  it('keeps a subscriber that is busy behind a burst: its late PING answer does not count as a hung server', async () => {
    broker = await startRedis()
    // No output buffer limit here: only the adapter's own heartbeat could cut the subscriber off.
    await redisCommand(broker.port, ['CONFIG', 'SET', 'client-output-buffer-limit', 'pubsub 0 0 0'])
    gate = await startGate(broker.port)
    // The receiver reads at 1 MB/s: a 3 MB burst keeps it about 3 s behind what Redis sent it (and its
    // PING answers with it), far past the 300 ms PING timeout, while messages keep arriving.
    gate.throttle(1_000_000)
    const key = uniqueKey('busy-subscriber')
    const common = { key, errorReportIntervalMs: 0, includeResult: false }
    const [receiver] = await createFleet(1, {
      ...common,
      uri: `redis://127.0.0.1:${gate.port}`,
      heartbeatIntervalMs: 100,
      heartbeatTimeoutMs: 300
    })
    const [sender] = await createFleet(1, { ...common, uri: broker.url })
    fleet = [receiver, sender]
    const statuses: string[] = []
    receiver.app.on('sync-status', ({ status }: { status: string }) => statuses.push(status))
    const text = 'x'.repeat(16_384)
    const count = 180
    const todos = sender.app.service('todos')
    await Promise.all(Array.from({ length: count }, (_, i) => todos.create({ marker: 'burst', i, text })))
    await waitFor(about('the burst'), () => receiver.seen('created', 'burst').length === count, 15_000)
    const { dropped } = receiver.app.sync.stats()
    const state = about('after the burst')()
    expect({
      state,
      statuses,
      missed: dropped.missed,
      errors: receiver.errors.map((e) => e.message)
    }).toEqual({
      state,
      statuses: [],
      missed: 0,
      errors: []
    })
  })
})
