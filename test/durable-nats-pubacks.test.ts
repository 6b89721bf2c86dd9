/**
 * How the NATS durable adapter has its publishes confirmed (adapters/nats/pubacks.ts): one reply
 * subscription and one timer per connection rather than one request each, a `Nats-Msg-Id` per message,
 * and publishes that get no PubAck failing after the timeout. On the run's shared nats-server (-js).
 */
import { connect, ErrorCode, type NatsConnection } from 'nats'
import { PUBACK_WINDOW, PubAcks } from '../adapters/nats/pubacks'
import { uniqueKey } from './helpers/apps'
import { closeProbes, openPublisher } from './helpers/durable-nats'

const shared = process.env.FANOUT_NATS_URL
if (!shared) throw new Error('FANOUT_NATS_URL is not set: run with FANOUT_BROKERS including nats')

// Timers that keep the process alive (an unref'd one is not listed).
const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length

let connections: NatsConnection[] = []
afterEach(async () => {
  await closeProbes()
  await Promise.all(connections.map((nc) => nc.close()))
  connections = []
})

async function raw(): Promise<NatsConnection> {
  const nc = await connect({ servers: shared })
  connections.push(nc)
  return nc
}

/** A connection and a subject someone listens on without answering: a publish there gets no PubAck. */
async function silentSubject(prefix: string): Promise<{ nc: NatsConnection; silent: string }> {
  const nc = await raw()
  const silent = uniqueKey(prefix)
  nc.subscribe(silent, { callback: () => undefined })
  await nc.flush()
  return { nc, silent }
}

/** A connection and a fresh stream of its own on `<key>.log` (removed with the server's data). */
async function stream(prefix: string): Promise<{ nc: NatsConnection; subject: string }> {
  const nc = await raw()
  const key = uniqueKey(prefix)
  await (await nc.jetstreamManager()).streams.add({ name: key, subjects: [`${key}.log`] })
  return { nc, subject: `${key}.log` }
}

/** Settles every promise and returns, per promise, its position or its error code. */
const outcomes = (promises: Promise<unknown>[]) =>
  Promise.all(
    promises.map((promise) =>
      promise.then(
        (value) => ({ value }),
        (error: Error & { code?: string }) => ({ code: error.code })
      )
    )
  )

describe('nats durable: PubAcks', () => {
  it('adds no timer per publish awaiting its PubAck, and every one gets its own position', async () => {
    const publisher = await openPublisher(shared, uniqueKey('nd-acks'))
    const before = timers()
    const publishes = Array.from({ length: 1_000 }, (_, i) => publisher.adapter.publishDurable(`m-${i}`))
    // Counted before any PubAck can arrive: nothing has been read from the socket yet.
    const waiting = timers() - before
    const positions = (await Promise.all(publishes)).map(Number)
    // The client's own requests (js.publish) made one timer each: 1,000 here.
    expect(waiting).toBeLessThanOrEqual(1)
    expect(positions).toEqual(Array.from({ length: 1_000 }, (_, i) => i + 1))
    expect(timers()).toBeLessThanOrEqual(before)
  })

  it('sends the message id as Nats-Msg-Id: a resend is stored once and answers with the first position', async () => {
    const publisher = await openPublisher(shared, uniqueKey('nd-msgid'))
    expect(await publisher.adapter.publishDurable('a', 'p-1')).toBe('1')
    expect(await publisher.adapter.publishDurable('b', 'p-2')).toBe('2')
    expect(await publisher.adapter.publishDurable('a, sent again', 'p-1')).toBe('1')
    expect(await publisher.adapter.publishDurable('no id')).toBe('3')
    expect(await publisher.adapter.publishDurable('no id')).toBe('4')
    expect(await publisher.adapter.lastPosition()).toBe('4')
    const stored = await publisher.adapter.readRange('0', 10)
    expect(stored.map(({ payload }) => Buffer.from(payload).toString())).toEqual(['a', 'b', 'no id', 'no id'])
  })

  it('fails a publish nobody answers after the timeout, and one no stream takes at once', async () => {
    // Someone listens, so the server has a responder and says nothing: only the timeout ends the wait.
    const { nc, silent } = await silentSubject('nd-silent')
    const acks = new PubAcks(nc, 300)
    const started = performance.now()
    const unanswered = await outcomes([
      acks.publish(silent, Buffer.from('x')),
      acks.publish(silent, Buffer.from('y'))
    ])
    const waitedMs = performance.now() - started
    expect(unanswered).toEqual([{ code: ErrorCode.Timeout }, { code: ErrorCode.Timeout }])
    expect(waitedMs).toBeGreaterThanOrEqual(290)
    expect(acks.size).toBe(0)
    // Nobody at all on the subject: the server answers 503 (no responders) instead of a PubAck.
    const nobody = await outcomes([acks.publish(uniqueKey('nd-nobody'), Buffer.from('z'))])
    expect(nobody).toEqual([{ code: ErrorCode.NoResponders }])
    acks.stop(new Error('done'))
  })

  it('fails what awaits its PubAck newest first when the connection is lost', async () => {
    const { nc, silent } = await silentSubject('nd-lost')
    const acks = new PubAcks(nc)
    const order: number[] = []
    const publishes = [1, 2, 3].map((n) =>
      acks.publish(silent, Buffer.from(String(n))).catch(() => void order.push(n))
    )
    acks.failAll(new Error('lost'))
    await Promise.all(publishes)
    // The core puts each failed message back at the front of its queue: the oldest must come last.
    expect(order).toEqual([3, 2, 1])
    expect(acks.size).toBe(0)
    acks.stop(new Error('done'))
  })

  it('sends at most a window of publishes at once; the rest wait unsent and fail newest first too', async () => {
    const { nc, silent } = await silentSubject('nd-window')
    const acks = new PubAcks(nc, 5_000, 8)
    const order: number[] = []
    const publishes = Array.from({ length: 20 }, (_, n) =>
      acks.publish(silent, Buffer.from(String(n))).catch(() => void order.push(n))
    )
    expect({ sent: acks.sent, size: acks.size }).toEqual({ sent: 8, size: 20 })
    acks.failAll(new Error('lost'))
    await Promise.all(publishes)
    expect(order).toEqual(Array.from({ length: 20 }, (_, n) => 19 - n))
    expect(acks.size).toBe(0)
    acks.stop(new Error('done'))
  })

  it('stores a burst far larger than the window without a PubAck timing out, each once and in order', async () => {
    const { nc, subject } = await stream('nd-burst')
    // Sent all at once, the last of 40,000 would wait behind the server's work on every one before it,
    // and the client would hold all of them (40 MB) in its buffer; with the window, at most PUBACK_WINDOW.
    const acks = new PubAcks(nc, 2_000)
    const body = Buffer.alloc(1_024, 'x')
    const publishes = Array.from({ length: 40_000 }, (_, i) => acks.publish(subject, body, `burst-${i}`))
    expect(acks.sent).toBeLessThanOrEqual(PUBACK_WINDOW)
    const results = await outcomes(publishes)
    const failed = results.filter((result) => 'code' in result)
    expect({ failed: failed.length, first: failed[0] }).toEqual({ failed: 0, first: undefined })
    expect(results.map((result) => ('value' in result ? result.value : 0))).toEqual(
      Array.from({ length: 40_000 }, (_, i) => i + 1)
    )
    acks.stop(new Error('done'))
  }, 60_000)

  it('starts the timeout once the sending code has run: a long synchronous loop of sends does not eat it', async () => {
    const { nc, subject } = await stream('nd-stamp')
    const acks = new PubAcks(nc, 300)
    const publishes = Array.from({ length: 10 }, (_, i) => acks.publish(subject, Buffer.from(`m-${i}`)))
    // The rest of a catch-up's loop (encoding thousands more), standing in: 500 ms without a turn.
    const until = performance.now() + 500
    while (performance.now() < until) Math.sqrt(until)
    expect(await outcomes(publishes)).toEqual(Array.from({ length: 10 }, (_, i) => ({ value: i + 1 })))
    acks.stop(new Error('done'))
  })
})
