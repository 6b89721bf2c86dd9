/** Consumer groups on the in-process adapter, through Feathers apps (see test/helpers/groups-suite.ts). */
import { createTestApp, teardownFleet, waitFor, type TestApp } from './helpers/apps'
import { SyncGroupError, type DeadLetter } from '../src/index'
import { groupSuite, uniqueGroupKey, waitForMembers } from './helpers/groups-suite'

groupSuite('memory', () => ({ uri: `memory://${uniqueGroupKey()}`, key: 'k', durable: true }))

describe('consumer groups on memory: volume, leaving', () => {
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

  it('rejects a dead letter replay cut short by leaving with a SyncGroupError, not as a success', async () => {
    const member = createTestApp({ uri: `memory://${uniqueGroupKey()}`, key: 'k', durable: true })
    fleet.push(member)
    await member.app.sync.ready
    const letters: DeadLetter[] = []
    member.app.on('sync-dead-letter', (letter: DeadLetter) => letters.push(letter))
    let replaying = false
    let calls = 0
    const leave = member.app.sync.consume(
      'mail',
      'todos',
      'created',
      () => {
        calls++
        // The member leaves the group between two attempts of the replay.
        if (replaying) leave()
        throw new Error('still failing')
      },
      { retryDelayMs: 10, maxRetryDelayMs: 20, maxAttempts: 2 }
    )
    await waitForMembers([member])
    await member.app.service('todos').create({ n: 1 })
    await waitFor(`a dead letter (${calls} calls)`, () => letters.length === 1)
    replaying = true
    const replay = member.app.sync.replay('mail', letters[0].id)
    await expect(replay).rejects.toThrow(SyncGroupError)
    await expect(replay).rejects.toThrow(/left before it succeeded/)
    // One attempt ran; the retry was never made.
    expect(calls).toBe(3)
  })

  it('leaves the group when its last handler is removed, so the members that still handle it get every event', async () => {
    const uri = `memory://${uniqueGroupKey()}`
    const [quitter, keeper] = [0, 1].map(() => createTestApp({ uri, key: 'k', durable: true }))
    fleet.push(quitter, keeper)
    await Promise.all(fleet.map(({ app }) => app.sync.ready))
    const handled: number[] = []
    const remove = quitter.app.sync.consume('mail', 'todos', 'created', () => undefined)
    keeper.app.sync.consume<{ n: number }>('mail', 'todos', 'created', ({ n }) => {
      handled.push(n)
    })
    await waitForMembers([quitter, keeper])
    await remove()
    expect(await quitter.app.sync.groupStats()).toEqual([])
    const total = 40
    for (let n = 0; n < total; n++) await keeper.app.service('todos').create({ n })
    await waitFor(`${total} handled by the keeper (${handled.length} so far)`, () => handled.length >= total)
    expect([...handled].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, n) => n))
    const [stats] = await keeper.app.sync.groupStats()
    expect(stats).toMatchObject({ group: 'mail', handled: total, skipped: 0 })
  })
})
