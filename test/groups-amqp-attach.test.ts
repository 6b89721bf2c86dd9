/**
 * A RabbitMQ group member whose join RabbitMQ never answers (a queue declaration left pending while the
 * connection's heartbeats go on, as with a quorum queue whose leader is not back): the join gives up
 * after ATTACH_TIMEOUT_MS with a typed error naming the group, closes its channel, and a re-join says so
 * on `sync-error` and tries again. A real broker cannot be made to leave one declaration unanswered on
 * demand, so the channel model is a stand-in; the rest of the group code is the adapter's.
 */
import type { ChannelModel } from 'amqplib'
import { ATTACH_TIMEOUT_MS, AmqpGroupMember } from '../adapters/amqp/group'
import { parseAmqpDurable } from '../adapters/amqp/durable-options'
import { parseOptions } from '../src/engine/options'
import { SyncConnectionError, SyncGroupError, type SyncError } from '../src/errors'

/** A connection whose channels open, then never answer an exchange declaration. */
function silentModel() {
  const closed: number[] = []
  let opened = 0
  const model = {
    createChannel: async () => {
      const id = ++opened
      return {
        on: () => undefined,
        assertExchange: () => new Promise(() => undefined),
        close: async () => void closed.push(id)
      }
    }
  }
  return { model: model as unknown as ChannelModel, closed, opened: () => opened }
}

function member(model: ChannelModel, reported: SyncError[]): AmqpGroupMember {
  const settings = parseAmqpDurable(parseOptions({ uri: 'amqp://127.0.0.1', key: 'attach', durable: true }))
  if (!settings) throw new Error('no durable settings')
  const options = { claimAfterMs: 10_000, prefetch: 10 }
  return new AmqpGroupMember(
    settings,
    '127.0.0.1:5672',
    'mailer',
    options,
    () => undefined,
    () => model,
    (error) => reported.push(error)
  )
}

afterEach(() => jest.useRealTimers())

describe('amqp group member whose join gets no answer', () => {
  it('rejects the join after ATTACH_TIMEOUT_MS with a SyncConnectionError naming the group, and closes its channel', async () => {
    jest.useFakeTimers()
    const { model, closed } = silentModel()
    const joining = member(model, []).attach(model)
    const outcome = joining.catch((error: unknown) => error)
    await jest.advanceTimersByTimeAsync(ATTACH_TIMEOUT_MS)
    const error = await outcome
    expect(error).toBeInstanceOf(SyncConnectionError)
    expect((error as Error).message).toContain(`within ${ATTACH_TIMEOUT_MS} ms while consumer group "mailer"`)
    expect(closed).toEqual([1])
  })

  it('reports a re-join that gets no answer as a SyncGroupError and tries again on a new channel', async () => {
    jest.useFakeTimers()
    const { model, closed, opened } = silentModel()
    const reported: SyncError[] = []
    const grouped = member(model, reported)
    grouped.reattach(model)
    await jest.advanceTimersByTimeAsync(ATTACH_TIMEOUT_MS + 300)
    expect(reported).toHaveLength(1)
    expect(reported[0]).toBeInstanceOf(SyncGroupError)
    expect(reported[0]).toMatchObject({ group: 'mailer' })
    expect(reported[0].message).toMatch(/Could not join consumer group "mailer" again .*did not answer/)
    expect(closed).toEqual([1])
    expect(opened()).toBe(2)
    await grouped.leave()
  })
})
