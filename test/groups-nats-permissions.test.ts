/**
 * A consumer group member on NATS whose user may not create the group's JetStream consumer: joining
 * fails with a typed error naming the group (it used to wait forever, retrying without a word). A
 * private nats-server with JetStream and users.
 */
import type { GroupLog } from '../src/adapter'
import { SyncGroupError } from '../src/errors'
import { consumerName } from '../adapters/nats/group'
import { startNats, type BrokerHandle } from './brokers'
import { uniqueKey } from './helpers/apps'
import { closeProbes, follow, open, type Probe } from './helpers/durable-nats'

jest.setTimeout(60_000)

const key = uniqueKey('ng-perm').replace(/[^a-z0-9-]/gi, '-')
const options = { claimAfterMs: 2_000, prefetch: 10 }

// User `b` may do anything but create the group's consumer; the instance's own reader (an ephemeral
// consumer) stays allowed.
const mailer = consumerName('mailer')
const denied = [
  `$JS.API.CONSUMER.CREATE.*.${mailer}`,
  `$JS.API.CONSUMER.CREATE.*.${mailer}.>`,
  `$JS.API.CONSUMER.DURABLE.CREATE.*.${mailer}`
]
const CONFIG = [
  'authorization {',
  '  users = [',
  `    { user: b, password: pb, permissions: { publish: { allow: ">", deny: ${JSON.stringify(denied)} }, subscribe: ">" } }`,
  '  ]',
  '}',
  ''
].join('\n')

let broker: BrokerHandle

beforeAll(async () => {
  broker = await startNats({ jetstream: true, config: CONFIG })
})
afterEach(async () => {
  await closeProbes()
})
afterAll(async () => {
  await broker?.stop()
})

async function instance(name: string): Promise<Probe> {
  const probe = await open(name, `nats://b:pb@127.0.0.1:${broker.port}`, key)
  await follow(probe, { kind: 'tail' })
  return probe
}
const groupLog = (probe: Probe) => probe.adapter as unknown as GroupLog

describe('nats groups without the permission to use the group consumer', () => {
  it('refuses to join with a SyncGroupError naming the group', async () => {
    const member = await instance('member b')
    const joining = groupLog(member).joinGroup('mailer', 'm', options, () => undefined)
    await expect(joining).rejects.toBeInstanceOf(SyncGroupError)
    await expect(joining).rejects.toMatchObject({ group: 'mailer' })
    await expect(joining).rejects.toThrow(/Consumer group "mailer" could not use its JetStream consumer/)
  })
})
