/**
 * What a Cluster publisher stores again after a failover (adapters/redis/confirmed.ts), on a redis-server
 * of its own: entries the stream lost are stored again in order, entries retention trimmed are not, and
 * a marker goes first when older confirmed entries were let go.
 */
import { Redis } from 'ioredis'
import { ConfirmedTail } from '../adapters/redis/confirmed'
import { startRedis, type BrokerHandle } from './brokers'
import { uniqueKey } from './helpers/apps'

let broker: BrokerHandle
let client: Redis

beforeAll(async () => {
  broker = await startRedis()
  client = new Redis(broker.port, broker.host)
})

afterAll(async () => {
  client?.disconnect()
  await broker?.stop()
})

/** Adds `texts` to `stream` (exact `MAXLEN`), keeping each in `tail`; returns their ids. */
async function publish(tail: ConfirmedTail, stream: string, texts: string[], maxLen: number) {
  const ids: string[] = []
  for (const text of texts) {
    const id = (await client.xadd(stream, 'MAXLEN', maxLen, '*', 'p', text)) as string
    tail.add(id, text)
    ids.push(id)
  }
  return ids
}

const numbered = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`)

async function recover(tail: ConfirmedTail, stream: string) {
  const [first] = await client.xrange(stream, '-', '+', 'COUNT', 1)
  const marks: string[] = []
  const result = await tail.recover(
    client,
    stream,
    first?.[0],
    async (value) => (await client.xadd(stream, '*', 'p', value)) as string,
    async () => marks.push((await client.xadd(stream, '*', 'g', '')) as string)
  )
  const texts = (await client.xrange(stream, '-', '+')).map(([, fields]) => fields[1] || `<${fields[0]}>`)
  return { ...result, marks, texts }
}

it('stores again what the stream lost, in order, and not what retention trimmed', async () => {
  const stream = uniqueKey('confirmed')
  const tail = new ConfirmedTail()
  const ids = await publish(tail, stream, numbered('m', 30), 20)
  // The newest 5 lost (as in a failover); the oldest 10 trimmed by MAXLEN 20.
  await client.xdel(stream, ...ids.slice(25))
  const { restored, incomplete, marks, texts } = await recover(tail, stream)
  expect({ restored, incomplete, marks }).toEqual({ restored: 5, incomplete: false, marks: [] })
  expect(texts).toEqual(numbered('m', 30).slice(10))
  // Checked again: nothing more to store.
  expect((await recover(tail, stream)).restored).toBe(0)
})

it('adds a gap marker first when confirmed entries older than those kept may be lost', async () => {
  const stream = uniqueKey('confirmed')
  const tail = new ConfirmedTail()
  // More than the 2,000 kept: the first 100 are let go.
  const ids = await publish(tail, stream, numbered('m', 2_100), 10_000)
  await client.xdel(stream, ...ids.slice(50))
  const { restored, incomplete, marks, texts } = await recover(tail, stream)
  expect({ restored, incomplete, marks: marks.length }).toEqual({
    restored: 2_000,
    incomplete: true,
    marks: 1
  })
  expect(texts).toEqual([...numbered('m', 50), '<g>', ...numbered('m', 2_100).slice(100)])
})
