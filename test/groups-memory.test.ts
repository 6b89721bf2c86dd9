/** Consumer groups on the in-process adapter, through Feathers apps (see test/helpers/groups-suite.ts). */
import { createTestApp, teardownFleet, waitFor, type TestApp } from './helpers/apps'
import { groupSuite, uniqueGroupKey } from './helpers/groups-suite'

groupSuite('memory', () => ({ uri: `memory://${uniqueGroupKey()}`, key: 'k', durable: true }))

describe('consumer groups on memory at volume', () => {
  let fleet: TestApp[] = []
  afterEach(async () => {
    await teardownFleet(fleet)
    fleet = []
  })

  // The memory adapter lives in one process: its three members are three apps here.
  it('handles 10,000 events exactly once, spread over 3 apps', async () => {
    const options = { uri: `memory://${uniqueGroupKey()}`, key: 'k', durable: true }
    fleet = [createTestApp(options), createTestApp(options), createTestApp(options)]
    const counts = new Map<number, number>()
    const shares = [0, 0, 0]
    fleet.forEach(({ app }, member) =>
      app.sync.consume<{ n: number }>('volume', 'todos', 'created', ({ n }) => {
        counts.set(n, (counts.get(n) ?? 0) + 1)
        shares[member]++
      })
    )
    await Promise.all(fleet.map(({ app }) => app.sync.ready))
    const total = 10_000
    for (let n = 0; n < total; n++) await fleet[n % 3].app.service('todos').create({ n })
    await waitFor(
      `${total} handled (${counts.size} so far, shares ${shares})`,
      () => counts.size >= total,
      60_000
    )
    expect([...counts.values()].filter((times) => times !== 1)).toEqual([])
    expect(shares.filter((share) => share > total / 10)).toHaveLength(3)
  }, 90_000)
})
