/**
 * ConfirmBatch (adapters/amqp/confirms.ts) on its own: the outcomes a real broker rarely gives on
 * demand (a nack, a full write buffer) and how each message of a failed batch is settled. The same paths
 * against a real RabbitMQ: test/amqp-confirms.test.ts.
 */
import { ConfirmBatch } from '../adapters/amqp/confirms'
import { SyncOversizeError } from '../src/errors'

/** Each promise's outcome: 'ok' or the error it rejected with. */
const outcomes = (promises: Promise<void>[]) =>
  Promise.all(
    promises.map((promise) =>
      promise.then(
        () => 'ok' as const,
        (error: Error) => error
      )
    )
  )

function batchOf(sizes: number[]) {
  let settled = 0
  const batch = new ConfirmBatch(() => settled++)
  const added = sizes.map((size) => batch.add(size))
  const promises = added.map(({ index }) => batch.message(index))
  return { batch, added, promises, settled: () => settled }
}

describe('ConfirmBatch', () => {
  it('settles once the tick is over and every message is confirmed; a nack fails only its own message', async () => {
    const { batch, added, promises, settled } = batchOf([10, 10, 10])
    added[0].confirmed(null)
    added[1].confirmed(new Error('message nacked'))
    added[2].confirmed(null)
    expect(settled()).toBe(0)
    batch.close()
    expect(settled()).toBe(1)
    const [first, second, third] = await outcomes(promises)
    expect([first, third]).toEqual(['ok', 'ok'])
    expect(second).toEqual(new Error('message nacked'))
  })

  it('waits for drain when a publish found the buffer full', async () => {
    const { batch, added, promises, settled } = batchOf([10])
    batch.awaitDrain()
    batch.close()
    added[0].confirmed(null)
    expect(settled()).toBe(0)
    batch.drained()
    expect(settled()).toBe(1)
    expect(await outcomes(promises)).toEqual(['ok'])
  })

  it('on a lost channel resolves the confirmed, drops the oversize and fails the rest with the loss', async () => {
    const { batch, added, promises, settled } = batchOf([10, 5_000, 10, 10])
    added[0].confirmed(null)
    batch.close()
    const loss = new Error(
      'Channel closed by server: 406 (PRECONDITION-FAILED) message size 5000 is larger than configured max size 4096'
    )
    batch.fail(loss)
    batch.fail(new Error('a second loss changes nothing'))
    // amqplib's own close handler calls the callbacks left afterwards: ignored.
    added[2].confirmed(new Error('channel closed'))
    expect(settled()).toBe(1)
    const [first, big, third, fourth] = await outcomes(promises)
    expect(first).toBe('ok')
    expect(big).toBeInstanceOf(SyncOversizeError)
    expect(big).toMatchObject({ size: 5_000, limit: 4_096 })
    expect([third, fourth]).toEqual([loss, loss])
  })

  it('fails a message whose publish threw, alone', async () => {
    const { batch, added, promises } = batchOf([10, 10])
    const thrown = new Error('Channel closed')
    batch.refused(added[0].index, thrown)
    added[1].confirmed(null)
    batch.close()
    expect(await outcomes(promises)).toEqual([thrown, 'ok'])
  })
})
