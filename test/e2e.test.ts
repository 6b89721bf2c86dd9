/**
 * End to end, like a user would run it: the demo's real Feathers instances (REST + socket.io),
 * each in its own process, synced through the cluster adapter (and through every shared test broker
 * whose adapter is available), with real socket.io clients connected to different instances.
 */
import { availableBrokers, runE2E } from './helpers/e2e'

const transports = [{ name: 'cluster', uri: undefined as string | undefined }, ...availableBrokers()]

describe.each(transports)('the demo synced through $name', ({ uri }) => {
  it('delivers an event created through REST on any instance exactly once to the websocket clients of all instances', async () => {
    const { counts, markers, instances } = await runE2E(uri)
    // Three different processes, one per URL: the clients really talk to different instances.
    expect(instances.map(({ instance }) => instance)).toEqual([1, 2, 3])
    expect(new Set(instances.map(({ pid }) => pid)).size).toBe(3)
    expect(markers).toHaveLength(3)
    expect(counts).toEqual([
      [1, 1, 1],
      [1, 1, 1],
      [1, 1, 1]
    ])
  }, 60_000)
})
