/**
 * A hung broker (SIGSTOP: sockets open, nothing answers) on default options: every adapter's heartbeat
 * notices it within a bound, publishes wait in the bounded outbox meanwhile, and everything arrives once
 * after the broker resumes. Each test runs its own broker.
 */
import type { SyncOptions } from '../src/index'
import { startNats, startRabbitMq, startRedis, type BrokerHandle } from './brokers'
import { barrier, createFleet, teardownFleet, uniqueKey, type TestApp } from './helpers/apps'
import { fleetState, untilEvery } from './helpers/fleet-state'

let fleet: TestApp[] = []
let broker: BrokerHandle | undefined

afterEach(async () => {
  broker?.resume()
  await teardownFleet(fleet)
  fleet = []
  await broker?.stop()
  broker = undefined
})

const NAMES = ['sender', 'receiver']

interface Case {
  kind: string
  start(): Promise<BrokerHandle>
  /** Longest time from the pause to `reconnecting` on every instance, with the default heartbeat. */
  noticeWithinMs: number
  options?: SyncOptions
  /** The whole test, broker start included (RabbitMQ takes seconds to boot). */
  testTimeoutMs: number
}

const CASES: Case[] = [
  // PING every 2 s, 2 s to answer: at most 4 s, plus a margin for a loaded machine.
  { kind: 'redis', start: () => startRedis(), noticeWithinMs: 7_000, testTimeoutMs: 40_000 },
  // Durable: the publisher's PING and the reader's bounded XREAD (2 s block, 2 s to answer) alike.
  {
    kind: 'redis durable',
    start: () => startRedis(),
    noticeWithinMs: 7_000,
    options: { durable: true },
    testTimeoutMs: 40_000
  },
  // pingInterval 2 s, maxPingOut 1: stale at the second ping, at most 4 s.
  {
    kind: 'nats',
    start: () => startNats({ jetstream: false }),
    noticeWithinMs: 7_000,
    testTimeoutMs: 40_000
  },
  // heartbeat 5 s: amqplib drops the connection after two silent intervals, at most 15 s.
  { kind: 'rabbitmq', start: () => startRabbitMq(), noticeWithinMs: 18_000, testTimeoutMs: 90_000 }
]

describe.each(CASES)(
  '$kind: a hung broker (SIGSTOP) on default options',
  ({ start, noticeWithinMs, options, testTimeoutMs }) => {
    it(
      'is noticed within a bound; publishes wait in the outbox and arrive once after it resumes',
      async () => {
        broker = await start()
        const key = uniqueKey('hung')
        fleet = await createFleet(2, { uri: broker.url, key, ...options })
        const [sender, receiver] = fleet
        await barrier(fleet, sender)
        const todos = sender.app.service('todos')
        const marker = uniqueKey('hung')

        broker.pause()
        const pausedAt = Date.now()
        // Sent before anyone noticed: handed back to the outbox once the driver gives up on them, unless
        // the broker confirmed them in the moment before the signal stopped it (seen once in CI on NATS).
        for (let i = 0; i < 3; i++) await todos.create({ marker, i })
        await untilEvery(
          fleet,
          'every app to notice the hung broker',
          (m) => m.app.sync.status === 'reconnecting',
          noticeWithinMs + 2_000,
          NAMES
        )
        const noticedMs = Date.now() - pausedAt
        expect(noticedMs).toBeLessThan(noticeWithinMs)

        for (let i = 3; i < 8; i++) await todos.create({ marker, i })
        const { outbox, publishErrors, dropped } = sender.app.sync.stats()
        const state = fleetState(fleet, NAMES)
        // Those sent after everyone noticed are all held; none is lost or counted as failed.
        expect({ heldAtLeast5: outbox.messages >= 5, atMost8: outbox.messages <= 8, state }).toEqual({
          heldAtLeast5: true,
          atMost8: true,
          state
        })
        // Its own messages coming back are dropped by design (`ownEcho`, the barrier's): not a loss.
        const { ownEcho: _echo, ...lost } = dropped
        expect({ publishErrors, dropped: lost, state }).toEqual({
          publishErrors: 0,
          dropped: Object.fromEntries(Object.keys(lost).map((reason) => [reason, 0])),
          state
        })

        broker.resume()
        await untilEvery(
          fleet,
          'every app to be ready again',
          (m) => m.app.sync.status === 'ready',
          30_000,
          NAMES
        )
        await barrier(fleet, sender, 20_000)
        const got = receiver
          .seen('created', marker)
          .map(({ data }) => data.i as number)
          .sort((a, b) => a - b)
        expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
        expect(sender.app.sync.stats().outbox.messages).toBe(0)
      },
      testTimeoutMs
    )
  }
)
