/**
 * A NATS subscriber that falls behind by more than the server's `max_pending` is cut off as a slow
 * consumer: the server closes its connection without a word to the client, and everything it had queued
 * for it is gone. The loss must show: the instance reports the lost connection (naming the limit),
 * counts the messages it missed, and recovers.
 */
import fs from 'node:fs'
import path from 'node:path'
import { startNats, type BrokerHandle } from './brokers'
import { createFleet, teardownFleet, uniqueKey, waitFor, type TestApp } from './helpers/apps'
import { expectRecoveredWithCountedLoss } from './helpers/cut-subscriber'
import { describing } from './helpers/fleet-state'
import { startGate, type Gate } from './helpers/gate'

jest.setTimeout(60_000)

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

/** Slow consumers the server has cut off so far, from its log. */
function slowConsumers(handle: BrokerHandle): number {
  const log = fs.readFileSync(path.join(handle.dir, 'nats.log'), 'utf8')
  return log.split('\n').filter((line) => line.includes('Slow Consumer Detected')).length
}

describe('nats: a subscriber past the server max_pending (a slow consumer)', () => {
  it('reports the cut and every missed message, recovers to ready and gets later events', async () => {
    // Small on purpose: a client more than 1 MB behind is cut off at once (no less than max_payload).
    const handle = await startNats({ jetstream: false, config: 'max_pending: 1MB' })
    broker = handle
    gate = await startGate(broker.port)
    const key = uniqueKey('slow-consumer')
    const common = { key, errorReportIntervalMs: 0, includeResult: false }
    // A far liveness check on the receiver: the server, not the adapter, is the one to cut it off here.
    const [receiver] = await createFleet(1, {
      ...common,
      uri: `nats://127.0.0.1:${gate.port}`,
      natsConnectionOptions: { pingInterval: 60_000 }
    })
    // While the receiver is at its limit, nats-server 2.9 stops reading this fast sender until it cuts the
    // receiver off (up to its 10 s write_deadline): to the sender that is a hung server, and its resends
    // after a reconnect would fill the receiver's hole. A far check keeps them out of this test.
    const [sender] = await createFleet(1, {
      ...common,
      uri: handle.url,
      natsConnectionOptions: { pingInterval: 60_000 }
    })
    fleet = [receiver, sender]
    const todos = sender.app.service('todos')
    const text = 'x'.repeat(32_768)
    await todos.create({ marker: 'before' })
    await waitFor(about('the first event'), () => receiver.seen('created', 'before').length === 1)

    const statuses: string[] = []
    receiver.app.on('sync-status', ({ status }: { status: string }) => statuses.push(status))
    gate.stall()
    // The kernel's socket buffers take several MB before the server's own queue grows: 16 MB is far past
    // both. The server may hold the sender back for a while before it gives up on the receiver.
    const sent = 500
    await Promise.all(Array.from({ length: sent }, (_, i) => todos.create({ marker: 'burst', i, text })))
    await waitFor(about('the server to cut the receiver off'), () => slowConsumers(handle) > 0, 30_000)
    gate.flow()

    await expectRecoveredWithCountedLoss({
      receiver,
      sender,
      sent,
      statuses,
      about,
      cutReport: /max_pending.*slow consumer/,
      senderQuiet: true
    })
  })
})
