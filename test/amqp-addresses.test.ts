/**
 * Several broker addresses in one AMQP `uri` (the nodes of a RabbitMQ cluster): how they are checked and
 * tuned, and that a connection moves on from an address that refuses it, in pub/sub, durable and group
 * modes, naming the address in use. The shared broker plays the one live node; the others are free
 * loopback ports nobody listens on. The cluster itself is in durable-amqp-cluster.test.ts.
 */
import { feathers } from '@feathersjs/feathers'
import { createAmqpAdapter, type AmqpAdapter } from '../adapters/amqp'
import { parseAmqpDurable } from '../adapters/amqp/durable-options'
import { parseAmqpOptions } from '../adapters/amqp/options'
import { OutageReports } from '../adapters/amqp/rotation'
import type { DurableLog, GroupLog } from '../src/adapter'
import { parseOptions } from '../src/engine/options'
import { sync, SyncConfigError, type SyncError, type SyncOptions } from '../src/index'
import { freePort } from './brokers'
import { uniqueKey, waitFor } from './helpers/apps'
import { join, waitAllGot } from './helpers/groups'

const fast = { amqpRecovery: { initialDelayMs: 50, maxDelayMs: 300 } }
const opened: AmqpAdapter[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((adapter) => adapter.close()))
})

const refusal = (options: SyncOptions): SyncConfigError => {
  try {
    feathers().configure(sync.amqp(options))
  } catch (error) {
    if (error instanceof SyncConfigError) return error
    throw error
  }
  throw new Error(`${JSON.stringify(options)} was accepted`)
}

it('takes a comma list of addresses, tunes each, and names a bad one without its password', () => {
  const settings = parseAmqpOptions(
    parseOptions({
      uri: 'amqp://u:p,1@rabbit-1:5680/v,h, amqps://u:p@rabbit-2?heartbeat=9,amqp://rabbit-3',
      amqpConnectionOptions: { frameMax: 8192 }
    })
  )
  expect(settings.targets).toEqual(['rabbit-1:5680', 'rabbit-2:5671', 'rabbit-3:5672'])
  expect(settings.target).toBe('rabbit-1:5680')
  expect(settings.url).toBe(settings.urls[0])
  // A comma not followed by a scheme belongs to the address: here in the password and the vhost.
  expect(new URL(settings.urls[0]).password).toBe('p,1')
  expect(new URL(settings.urls[0]).pathname).toBe('/v,h')
  const query = settings.urls.map((url) => Object.fromEntries(new URL(url).searchParams))
  expect(query).toEqual([
    { heartbeat: '5', frameMax: '8192' },
    { heartbeat: '9', frameMax: '8192' },
    { heartbeat: '5', frameMax: '8192' }
  ])

  const bad = refusal({ uri: 'amqp://guest:hunter2@a:5672,amqp://guest:hunter2@[nope' })
  expect(bad.option).toBe('uri')
  expect(bad.message).toMatch(/address 2 of 2/)
  expect(bad.message).not.toContain('hunter2')
  const wrong = refusal({ uri: 'amqp://a,amqp://b,amqps://' })
  expect(wrong.message).toMatch(/\(address 3 of 3\) must look like amqp:\/\/host:port/)
})

it('sets the stream replicas only when asked, and refuses a bad count or one without durable', () => {
  const durable = (extra: SyncOptions) =>
    parseAmqpDurable(parseOptions({ uri: 'amqp://a', durable: true, ...extra }))
  expect(durable({})?.replicas).toBeUndefined()
  expect(durable({ amqpStreamReplicas: 3 })?.replicas).toBe(3)
  for (const amqpStreamReplicas of [0, 1.5, '3' as unknown as number]) {
    const error = refusal({ uri: 'amqp://a', durable: true, amqpStreamReplicas })
    expect(error.option).toBe('amqpStreamReplicas')
  }
  expect(refusal({ uri: 'amqp://a', amqpStreamReplicas: 3 }).message).toMatch(/needs "durable"/)
})

it('reports each address once per outage, and a single address as before (once per new reason)', () => {
  const tell = (reports: OutageReports, reasons: string[]) =>
    reasons.filter((reason) => reports.fresh(reason))
  // Three dead nodes failing in turn: three reports, however many rounds.
  expect(tell(new OutageReports(3), ['a', 'b', 'c', 'a', 'b', 'c', 'a'])).toEqual(['a', 'b', 'c'])
  // One address: a reason is told again once another came between.
  expect(tell(new OutageReports(1), ['a', 'a', 'b', 'a'])).toEqual(['a', 'b', 'a'])
  const reports = new OutageReports(3)
  tell(reports, ['a'])
  reports.clear()
  expect(reports.fresh('a')).toBe(true)
})

const shared = process.env.FANOUT_AMQP_URL
const describeShared = shared ? describe : describe.skip

describeShared('stream replicas on a single node', () => {
  const uri = shared as string
  const outcome = async (key: string, amqpStreamReplicas?: number) => {
    const adapter = createAmqpAdapter(
      parseOptions({
        uri,
        key,
        durable: true,
        ...fast,
        ...(amqpStreamReplicas ? { amqpStreamReplicas } : {})
      })
    )
    opened.push(adapter)
    try {
      await adapter.connect({ status: () => undefined, error: () => undefined })
      return 'connected'
    } catch (error) {
      return error instanceof SyncConfigError ? `refused: ${error.option}` : `failed: ${String(error)}`
    }
  }

  it('declares the stream with it; RabbitMQ refuses another value, or none, naming the option', async () => {
    const key = uniqueKey('replicas')
    const withOne = [await outcome(key, 1), await outcome(key, 1), await outcome(key, 2), await outcome(key)]
    expect(withOne).toEqual([
      'connected',
      'connected',
      'refused: amqpStreamReplicas',
      'refused: amqpStreamReplicas'
    ])
    // A stream declared without it (by default, or by an earlier version) refuses the option.
    const without = uniqueKey('replicas')
    expect([await outcome(without), await outcome(without, 1)]).toEqual([
      'connected',
      'refused: amqpStreamReplicas'
    ])
  })
})

describeShared('several addresses, one of them live', () => {
  const live = shared as string
  const liveTarget = `${new URL(live).hostname}:${new URL(live).port}`

  async function open(uri: string, key: string, extra: SyncOptions = {}) {
    const adapter = createAmqpAdapter(parseOptions({ uri, key, ...fast, ...extra }))
    opened.push(adapter)
    const errors: SyncError[] = []
    const statuses: string[] = []
    await adapter.connect({ status: (status) => statuses.push(status), error: (error) => errors.push(error) })
    return { adapter, errors, statuses }
  }

  it('tries the addresses in the order given, round robin, and names the one in use', async () => {
    const dead = await Promise.all([freePort(), freePort()])
    const uri = `amqp://127.0.0.1:${dead[0]},amqp://127.0.0.1:${dead[1]},${live}`
    const key = uniqueKey('addr')
    const sender = await open(uri, key)
    const receiver = await open(`${live},amqp://127.0.0.1:${dead[0]}`, key)
    expect(sender.adapter.target).toBe(liveTarget)
    // One report per refused address, first to last, before the live one took it.
    const refused = sender.errors.map((error) => /RabbitMQ at (127\.0\.0\.1:\d+)/.exec(error.message)?.[1])
    expect(refused).toEqual([`127.0.0.1:${dead[0]}`, `127.0.0.1:${dead[1]}`])
    // Starting with the live address, the dead one is never tried.
    expect({ errors: receiver.errors, target: receiver.adapter.target }).toEqual({
      errors: [],
      target: liveTarget
    })

    const got: string[] = []
    await receiver.adapter.subscribe((payload) => got.push(Buffer.from(payload).toString()))
    await sender.adapter.subscribe(() => undefined)
    await sender.adapter.publish('over the third address')
    await waitFor(`the receiver to get the message (has [${got.join(', ')}])`, () => got.length === 1)
    expect(got).toEqual(['over the third address'])
  })

  it('reaches the stream and consumer groups over the next address', async () => {
    const dead = await freePort()
    const uri = `amqp://127.0.0.1:${dead},${live}`
    const key = uniqueKey('addr-durable')
    const { adapter, errors } = await open(uri, key, { durable: true })
    const durable = adapter as AmqpAdapter & DurableLog & GroupLog
    const got: string[] = []
    await durable.subscribeDurable(
      { kind: 'tail' },
      {
        message: (payload) => got.push(Buffer.from(payload).toString()),
        gap: () => undefined
      }
    )
    const member = await join(durable, 'mailer', 'm0', { claimAfterMs: 10_000, prefetch: 10 })
    await durable.publishDurable('kept')
    await waitFor(`the stream to hand the message over (has [${got.join(', ')}])`, () => got.length === 1)
    await waitAllGot([member], ['kept'])
    expect(got).toEqual(['kept'])
    // The main connection and the group connection each met the dead address once.
    expect(errors.map((error) => error.message).filter((text) => text.includes(`:${dead}`))).toHaveLength(2)
  })
})
