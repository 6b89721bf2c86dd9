/**
 * A consumer group on NATS JetStream through Feathers apps: a live member whose handler runs longer than
 * `claimAfterMs` (the consumer's ack_wait) keeps its event; JetStream must not hand it to another member.
 */
import { slowMemberKeepsItsEvent } from './helpers/slow-member'

jest.setTimeout(30_000)

const url = process.env.FANOUT_NATS_URL
if (!url) throw new Error('FANOUT_NATS_URL is not set: run with FANOUT_BROKERS including nats')

describe('nats groups: a slow handler on a live member', () => {
  it('is not handed to a second member while the first still works on it (handled once)', async () => {
    // The handler works longer than two ack_wait periods.
    await slowMemberKeepsItsEvent({ options: { uri: url }, claimAfterMs: 1_000, handlerMs: 2_500 })
  })
})
