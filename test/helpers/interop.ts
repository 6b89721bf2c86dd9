/**
 * Checks shared by the feathers-sync 3.x interop tests of every broker.
 */
import type { Application } from '@feathersjs/feathers'
import { barrier, uniqueKey, waitFor, type TestApp } from './apps'

/**
 * Has a feathers-sync instance create one standard and emit one custom event, then checks that each of
 * our apps got both exactly once, marked as coming from an unknown (feathers-sync) sender, with no error.
 */
export async function expectLegacyEventsOnce(ours: TestApp[], legacy: { app: Application }): Promise<void> {
  const marker = uniqueKey('from-legacy')
  await legacy.app.service('todos').create({ marker, text: 'from feathers-sync' })
  legacy.app.service('todos').emit('status', { marker, state: 'custom' })
  await waitFor('our apps to see both events', () =>
    ours.every((o) => o.received.filter((r) => r.data?.marker === marker).length === 2)
  )
  for (const app of ours) {
    const [created] = app.seen('created', marker)
    expect(created.data).toEqual({ marker, text: 'from feathers-sync', id: expect.any(Number) })
    expect(created.context.remote).toEqual({ instanceId: null, messageId: null })
    expect(app.seen('status', marker)).toHaveLength(1)
  }
  // Nothing else arrived later: a barrier from one of ours has overtaken any straggler.
  await barrier(ours, ours[0])
  for (const app of ours) expect(app.seen('created', marker)).toHaveLength(1)
  expect(ours.flatMap((o) => o.errors)).toEqual([])
}
