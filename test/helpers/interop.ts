/**
 * Checks shared by the feathers-sync 3.x interop tests of every broker.
 */
import type { Application } from '@feathersjs/feathers'
import { MemoryService } from '@feathersjs/memory'
import { barrier, uniqueKey, waitFor, type TestApp } from './apps'

/** What a feathers-sync instance's `todos` service emitted. */
export type LegacySeen = { event: string; data: Record<string, unknown> }[]

/** Gives a feathers-sync app the `todos` service our tests use, and records what it emits. */
export function legacyTodos(app: Application): LegacySeen {
  app.use('todos', new MemoryService({ multi: true }), { events: ['status'] })
  const seen: LegacySeen = []
  for (const event of ['created', 'patched', 'status']) {
    app.service('todos').on(event, (data: Record<string, unknown>) => seen.push({ event, data }))
  }
  return seen
}

/** Creates, patches and emits a custom event on one of ours; the feathers-sync instance sees all three. */
export async function expectLegacySeesOurs(sender: TestApp, legacy: { seen: LegacySeen }): Promise<void> {
  const marker = uniqueKey('to-legacy')
  const item = await sender.app.service('todos').create({ marker, text: 'from fanout' })
  await sender.app.service('todos').patch(item.id, { text: 'patched' })
  sender.app.service('todos').emit('status', { marker, state: 'custom' })
  const mine = () => legacy.seen.filter((s) => s.data.marker === marker)
  await waitFor('feathers-sync to see three events', () => mine().length === 3)
  expect(mine()).toEqual([
    { event: 'created', data: { marker, text: 'from fanout', id: item.id } },
    { event: 'patched', data: { marker, text: 'patched', id: item.id } },
    { event: 'status', data: { marker, state: 'custom' } }
  ])
}

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
