/**
 * A consumer group member on NATS whose user may not use the group's JetStream consumer is never silent:
 * joining a group whose consumer it may not create fails with a typed error naming the group (it used
 * to wait forever, retrying without a word), and a pull it may not make is reported naming the subject.
 * A private nats-server with JetStream and users.
 */
import type { GroupLog } from '../src/adapter'
import { SyncConnectionError, SyncGroupError } from '../src/errors'
import { consumerName } from '../adapters/nats/group'
import { startNats, type BrokerHandle } from './brokers'
import { uniqueKey, waitFor } from './helpers/apps'
import { closeProbes, describeProbe, follow, open, type Probe } from './helpers/durable-nats'

jest.setTimeout(60_000)

const key = uniqueKey('ng-perm').replace(/[^a-z0-9-]/gi, '-')
const options = { claimAfterMs: 2_000, prefetch: 10 }

// User `b` may do anything but create the consumer of group `mailer` and pull from that of group `pull`;
// the instance's own reader (an ephemeral consumer) stays allowed.
const mailer = consumerName('mailer')
const denied = [
  `$JS.API.CONSUMER.MSG.NEXT.*.${consumerName('pull')}`,
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

  it('reports a pull it may not make, naming the subject', async () => {
    const member = await instance('member b')
    const membership = await groupLog(member).joinGroup('pull', 'm', options, () => undefined)
    try {
      const subject = `$JS.API.CONSUMER.MSG.NEXT.`
      const reported = () =>
        member.errors.filter(
          (error) => error instanceof SyncConnectionError && error.message.includes(subject)
        )
      await waitFor(
        () => `an error naming ${subject}… (${describeProbe(member)})`,
        () => reported().length > 0
      )
      expect(reported()[0].message).toContain(`no permission to publish "${subject}`)
    } finally {
      await membership.leave()
    }
  })
})
