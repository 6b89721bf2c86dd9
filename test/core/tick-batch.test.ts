import { TickBatch } from '../../src/engine/tick-batch'

describe('TickBatch', () => {
  it('hands over everything added during one tick in one call, in order, once the promise jobs are done', async () => {
    const flushed: number[][] = []
    const batch = new TickBatch<number>((items) => {
      flushed.push(items)
    })
    // Like events emitted from deep inside chains of promise jobs.
    const chains = [1, 2, 3].map(async (n) => {
      await Promise.resolve()
      await Promise.resolve()
      return batch.add(n)
    })
    const first = batch.add(0)
    expect(flushed).toEqual([])
    await Promise.all(chains)
    await first
    expect(flushed).toEqual([[0, 1, 2, 3]])
    await batch.add(4)
    expect(flushed).toEqual([[0, 1, 2, 3], [4]])
  })

  it('settles every promise of a batch as its flush did: resolved, rejected, or thrown', async () => {
    let outcome: 'ok' | 'reject' | 'throw' = 'ok'
    const batch = new TickBatch<string>(() => {
      if (outcome === 'throw') throw new Error('thrown')
      return outcome === 'reject' ? Promise.reject(new Error('rejected')) : Promise.resolve()
    })
    const resolved = [batch.add('a'), batch.add('b')]
    expect(resolved[0]).toBe(resolved[1])
    await expect(Promise.all(resolved)).resolves.toEqual([undefined, undefined])
    outcome = 'reject'
    await expect(batch.add('c')).rejects.toThrow('rejected')
    outcome = 'throw'
    await expect(batch.add('d')).rejects.toThrow('thrown')
  })
})
