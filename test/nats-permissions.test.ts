/**
 * NATS taking away the permission to subscribe while the connection stays up, as a config reload does:
 * the server sends `-ERR 'Permissions Violation for Subscription to "…"'` and the client closes the
 * subscription. The instance must say so (not stay `ready` and deaf) and subscribe again once the
 * permission is back. A private nats-server with users, reloaded by the test.
 */
import { SyncConnectionError, SyncSubscriptionError } from '../src/index'
import { reloadNats, startNats, type BrokerHandle } from './brokers'
import { createFleet, createTestApp, teardownFleet, uniqueKey, waitFor, type TestApp } from './helpers/apps'
import { deliversEachOnce, waitForFleet, watch } from './helpers/watch'

jest.setTimeout(60_000)

const HEAL_TIMEOUT_MS = 10_000
const subject = uniqueKey('nats-perm').replace(/[^a-z0-9-]/gi, '-')

/** Users `a` and `b`; `b` may not subscribe to the test's subject when `revoked`. */
const config = (revoked: boolean): string => {
  const b = revoked ? `{ allow: ">", deny: "${subject}" }` : '">"'
  return [
    'authorization {',
    '  users = [',
    '    { user: a, password: pa, permissions: { publish: ">", subscribe: ">" } }',
    `    { user: b, password: pb, permissions: { publish: ">", subscribe: ${b} } }`,
    '  ]',
    '}',
    ''
  ].join('\n')
}

let broker: BrokerHandle
let extra: TestApp[] = []

beforeAll(async () => {
  broker = await startNats({ jetstream: false, config: config(false) })
})
afterAll(async () => {
  await teardownFleet(extra)
  await broker?.stop()
})

const options = (user: 'a' | 'b') => ({
  uri: `nats://${user}:p${user}@127.0.0.1:${broker.port}`,
  key: subject,
  natsResubscribeIntervalMs: 200,
  natsConnectionOptions: { reconnectTimeWait: 200, reconnectJitter: 100 }
})

describe('nats: the permission to subscribe taken away and given back by a config reload', () => {
  it('says reconnecting with an error naming the subject, holds what it sends, and subscribes again once allowed', async () => {
    const [a0, a1] = await createFleet(2, options('a'))
    const [b] = await createFleet(1, options('b'))
    const watched = watch([a0, a1, b])
    extra = [a0, a1, b]

    reloadNats(broker, config(true))
    await waitForFleet(
      watched,
      'b to lose its subscription',
      () => b.app.sync.status === 'reconnecting',
      HEAL_TIMEOUT_MS
    )
    const told = b.errors.filter((error) => error instanceof SyncSubscriptionError)
    expect(told).toHaveLength(1)
    expect(told[0]).toMatchObject({ channel: subject, code: 'SYNC_CONNECTION' })
    expect(told[0].message).toContain(`refused the subscription to "${subject}"`)
    expect(b.app.sync.status).toBe('reconnecting')

    // The others are not affected; what b sends meanwhile waits for its subscription.
    const fromA = uniqueKey('from-a')
    const fromB = uniqueKey('from-b')
    await a0.app.service('todos').create({ marker: fromA })
    await b.app.service('todos').create({ marker: fromB })
    await waitFor('a1 to get the event of a0', () => a1.seen('created', fromA).length === 1)
    expect(b.app.sync.stats().outbox.messages).toBe(1)

    // An instance that starts while refused is not ready, and says why.
    // Long enough for the refusal to arrive on a loaded machine: the rejection carries it as its cause.
    const late = createTestApp({ ...options('b'), connectTimeoutMs: 3_000 })
    extra.push(late)
    const refused: unknown = await late.app.sync.ready.then(
      () => new Error('ready resolved while the subscription was refused'),
      (cause: unknown) => cause
    )
    expect(refused).toBeInstanceOf(SyncConnectionError)
    expect((refused as Error).cause).toBeInstanceOf(SyncSubscriptionError)
    expect((refused as Error).message).toContain(subject)

    reloadNats(broker, config(false))
    await waitForFleet(
      watched,
      'b and the late instance to subscribe again',
      () => b.app.sync.status === 'ready' && late.app.sync.status === 'ready',
      HEAL_TIMEOUT_MS
    )
    expect(watched.statuses).toEqual([[], [], ['reconnecting', 'ready']])
    expect(b.app.sync.stats().reconnects).toBe(1)
    // What b held is sent once it is back (after the resume delay), once.
    await waitForFleet(
      watched,
      'what b held to arrive',
      () => [a0, a1].every((member) => member.seen('created', fromB).length === 1),
      HEAL_TIMEOUT_MS
    )
    await deliversEachOnce(watch([a0, a1, b, late]))
    for (const member of [a0, a1, b]) expect(member.seen('created', fromB)).toHaveLength(1)
  })
})
