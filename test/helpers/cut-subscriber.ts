/**
 * The second half of a "broker cut a slow subscriber off" test (Redis' output buffer limit, NATS'
 * max_pending), the same on every broker: once the gate flows again, the receiver reconnects, is ready,
 * gets a later event, and what it lost of the burst is counted exactly and reported, nothing twice.
 */
import { SyncConnectionError, SyncMessageError } from '../../src/index'
import { waitFor, type TestApp } from './apps'

export interface CutSubscriber {
  receiver: TestApp
  sender: TestApp
  /** Burst events the sender created (marker `burst`). */
  sent: number
  /** The receiver's `sync-status` values since before the burst. */
  statuses: string[]
  /** A describing function (see fleet-state.ts `describing`). */
  about: (what: string) => () => string
  /** What the receiver's lost-connection report must say (names the broker's limit). */
  cutReport: RegExp
  /** Also require that the sender reported nothing. */
  senderQuiet?: boolean
}

export async function expectRecoveredWithCountedLoss(cut: CutSubscriber): Promise<void> {
  const { receiver, sender, sent, statuses, about } = cut
  await waitFor(about('the receiver to reconnect'), () => statuses.includes('reconnecting'))
  await waitFor(about('the receiver to be ready again'), () => receiver.app.sync.status === 'ready')
  await sender.app.service('todos').create({ marker: 'after' })
  await waitFor(about('the event after recovery'), () => receiver.seen('created', 'after').length === 1)

  const got = receiver.seen('created', 'burst').length
  const { dropped } = receiver.app.sync.stats()
  const missed = receiver.errors.filter(
    (error) => error instanceof SyncMessageError && error.reason === 'missed'
  )
  const disconnected = receiver.errors.filter(
    (error) => error instanceof SyncConnectionError && cut.cutReport.test(error.message)
  )
  const senderErrors = cut.senderQuiet ? sender.errors.map((error) => error.message) : []
  // What did not arrive is counted, exactly, and reported; nothing arrived twice. `state` (the same on
  // both sides) puts each instance's status and counters in a failure's diff.
  const state = about(`${got} of ${sent} burst events received`)()
  expect({
    state,
    lost: sent - got > 0,
    gotPlusMissed: got + dropped.missed,
    duplicates: dropped.duplicate,
    missedReports: missed.length > 0,
    disconnectionReports: disconnected.length,
    senderErrors
  }).toEqual({
    state,
    lost: true,
    gotPlusMissed: sent,
    duplicates: 0,
    missedReports: true,
    disconnectionReports: 1,
    senderErrors: []
  })
}
