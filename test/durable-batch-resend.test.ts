/**
 * Batched frames in durable mode on NATS JetStream, when the PubAcks of frames the server stored are lost
 * (a TCP gate in front of the shared server stops relaying what the server sends): the instance
 * reconnects and sends those frames again whole, under the same message id, so the stream keeps each
 * event once. Read back from the stream itself, not through a listener's duplicate window.
 */
import { connect, type NatsConnection } from 'nats'
import { streamName } from '../adapters/nats/durable-options'
import { isFrame, unpackFrame } from '../src/protocol/batch'
import { createTestApp, uniqueKey, waitFor, type TestApp } from './helpers/apps'
import { fleetState } from './helpers/fleet-state'
import { startGate, type Gate } from './helpers/gate'

const shared = process.env.FANOUT_NATS_URL
if (!shared) throw new Error('FANOUT_NATS_URL is not set: run with FANOUT_BROKERS including nats')

let apps: TestApp[] = []
let gate: Gate | undefined
let raw: NatsConnection | undefined
afterEach(async () => {
  await Promise.all(apps.map(({ app }) => app.teardown()))
  apps = []
  await gate?.close()
  gate = undefined
  await raw?.close()
  raw = undefined
})

/** Every event marker the stream holds, in stream order, frames opened. */
async function storedMarkers(nc: NatsConnection, key: string): Promise<string[]> {
  const jsm = await nc.jetstreamManager()
  const stream = streamName(key)
  const { state } = await jsm.streams.info(stream)
  const markers: string[] = []
  for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
    const { data } = await jsm.streams.getMessage(stream, { seq })
    const events = isFrame(data) ? (unpackFrame(data) as Uint8Array[]) : [data]
    for (const event of events) {
      const found = /"marker":"([^"]+)"/.exec(Buffer.from(event).toString())
      if (found) markers.push(found[1])
    }
  }
  return markers
}

it('sends frames whose PubAcks were lost again whole: the stream keeps each event once', async () => {
  const key = uniqueKey('durable-batch-resend')
  gate = await startGate(Number(new URL(shared).port))
  const options = { key, durable: true, batch: true, errorReportIntervalMs: 0 }
  const writer = createTestApp({ ...options, uri: `nats://127.0.0.1:${gate.port}` })
  const reader = createTestApp({ ...options, uri: shared })
  apps.push(writer, reader)
  await Promise.all(apps.map(({ app }) => app.sync.ready))
  const markers: string[] = []
  const burst = async (round: number) => {
    const batch = Array.from({ length: 100 }, (_, i) => `r${round}-${i}`)
    markers.push(...batch)
    await Promise.all(batch.map((marker) => writer.app.service('todos').create({ marker })))
  }
  for (let round = 0; round < 3; round++) await burst(round)
  // From here the server's answers (PubAcks among them) no longer reach the writer; what it sends does.
  gate.stall()
  for (let round = 3; round < 6; round++) await burst(round)
  await waitFor(
    `the writer to notice and come back; ${fleetState(apps)}`,
    () => writer.app.sync.stats().reconnects >= 1,
    20_000
  )
  for (let round = 6; round < 8; round++) await burst(round)
  const got = () => reader.received.filter((r) => r.event === 'created').length
  await waitFor(
    `the reader to have all ${markers.length}; ${fleetState(apps)}`,
    () => got() >= markers.length,
    20_000
  )
  raw = await connect({ servers: shared })
  const stored = await storedMarkers(raw, key)
  const twice = stored.filter((marker, index) => stored.indexOf(marker) !== index)
  expect(twice).toEqual([])
  expect(new Set(stored)).toEqual(new Set(markers))
  expect(reader.received.filter((r) => r.event === 'created').map((r) => r.data.marker)).toEqual(markers)
})
