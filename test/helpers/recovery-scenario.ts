/**
 * The outage scenario of client recovery: three instances, three clients in two rooms; one client loses
 * its connection while events are created across the instances, and its socket reconnects through the
 * balancer to another instance. Returns everything each side saw, for the test to compare.
 */
import type { Application } from '@feathersjs/feathers'
import type { SyncOptions } from '../../src/index'
import { uniqueKey, waitFor } from './apps'
import {
  connectRecovering,
  startRecoveryServer,
  type Message,
  type RecoveringClient,
  type RecoveryServer
} from './recovery-fleet'
import { startSwitchProxy, type SwitchProxy } from './switch-proxy'

export interface Outcome {
  servers: RecoveryServer[]
  away: RecoveringClient
  stay: RecoveringClient
  peer: RecoveringClient
}

export interface Running extends Outcome {
  proxy: SwitchProxy
  /** Until it settles, the away client waits before re-authenticating and asking for its replay. */
  authenticated: Promise<void>
  close(): Promise<void>
}

export const keyOf = ({ event, data }: { event: string; data: Message }): string =>
  `${event}:${data.room}:${data.n}${data.local ? ':local' : ''}`

/** Starts 3 servers on `options` and 3 clients: `away` (room a, via the balancer to server 0), `stay` (room b, server 1), `peer` (room a, server 2). */
export async function startFleet(options: SyncOptions): Promise<Running> {
  const key = uniqueKey('recovery')
  const servers = await Promise.all([0, 1, 2].map(() => startRecoveryServer({ ...options, key })))
  await Promise.all(servers.map(({ app }) => app.sync.ready))
  const proxy = await startSwitchProxy(servers[0].port)
  const fleet = { authenticated: Promise.resolve() } as Running
  // ann and cat are in room a, bob in room b.
  const away = connectRecovering(proxy.url, 'ann@example.com', {
    ready: async (app) => {
      await fleet.authenticated
      return (app as Application).reAuthenticate()
    }
  })
  const stay = connectRecovering(`http://127.0.0.1:${servers[1].port}`, 'bob@example.com')
  const peer = connectRecovering(`http://127.0.0.1:${servers[2].port}`, 'cat@example.com')
  const clients = [away, stay, peer]
  await waitFor('every client answered once', () => clients.every((c) => c.answers >= 1))
  return Object.assign(fleet, {
    servers,
    away,
    stay,
    peer,
    proxy,
    async close() {
      for (const client of clients) client.socket.disconnect()
      await proxy.close()
      await Promise.all(servers.map(({ app }) => app.teardown()))
    }
  })
}

let n = 0
/** Creates (or emits, every 5th, the custom `status` event) one message of `room` on `server`. */
export async function emitOne(server: RecoveryServer, room: string, local = false): Promise<void> {
  n++
  // A custom event has no resolver: it carries no secret. Created records do; their dispatch drops it.
  if (n % 5 === 0 && !local) server.app.service('messages').emit('status', { room, n })
  else await server.app.service('messages').create({ room, n, secret: `s${n}`, ...(local && { local }) })
}

/** Waits until every server has emitted every travelling event with a number up to `last`. */
export async function settled(servers: RecoveryServer[], count: () => number): Promise<void> {
  await waitFor(
    'every instance to emit every travelling event',
    () => servers.every((s) => s.log.filter((e) => e.position !== undefined).length === count()),
    20_000
  )
}

/**
 * The outage: `away` is cut; `events` messages are created across the three instances over `outageMs`
 * (rooms alternating, some local-only); then the balancer sends it to server 1, and more events are
 * created while it reconnects and replays. With `perStep` above 1, each step of the outage creates that
 * many at once on one instance (in one tick, so with `batch` they travel as one frame).
 */
export async function outage(fleet: Running, events: number, outageMs: number, perStep = 1): Promise<void> {
  const { servers, away, proxy } = fleet
  let travelling = 0
  const create = async (i: number, local = false) => {
    await emitOne(servers[i % 3], i % 2 === 0 ? 'a' : 'b', local)
    if (!local) travelling++
  }
  for (let i = 0; i < 6; i++) await create(i)
  await settled(servers, () => travelling)
  await waitFor('the away client to have its first events', () => away.got.length === 3)
  proxy.cut()
  await waitFor('the away client to notice', () => !away.socket.connected)
  const started = Date.now()
  for (let i = 0; i < events; i++) {
    await Promise.all(Array.from({ length: perStep }, () => create(i, i % 7 === 3)))
    // Pacing of the scenario (the outage lasts outageMs), not a wait for a condition.
    const due = started + ((i + 1) * outageMs) / events
    if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()))
  }
  const answered = away.answers
  let authenticate = () => undefined as void
  fleet.authenticated = new Promise<void>((resolve) => (authenticate = resolve))
  proxy.switchTo(servers[1].port)
  // Live events go on while the client is back but has not asked for its replay (the server holds them),
  await waitFor('the away client to reconnect', () => away.socket.connected)
  for (let i = 0; i < 10; i++) await create(i)
  await settled(servers, () => travelling)
  authenticate()
  // and while it replays: the seam must hold.
  for (let i = 0; i < 10 && away.answers === answered; i++) await create(i)
  await waitFor('the replay answer', () => away.answers > answered)
  for (let i = 0; i < 10; i++) await create(i)
  await settled(servers, () => travelling)
}

/** The travelling events of `room` in log order (every instance emits them in that order). */
export const expectedFor = (server: RecoveryServer, room: string): string[] =>
  server.log.filter((e) => e.position !== undefined && e.data.room === room).map(keyOf)

/**
 * Checks what every client got after the outage: the moved client exactly the travelling events of its
 * room in log order; the clients that stayed their room's events as their own instance emitted them (its
 * local-only ones included); nobody a secret; no instance an error.
 */
export async function expectExactDelivery(fleet: Outcome): Promise<void> {
  const { servers, away, stay, peer } = fleet
  const forA = expectedFor(servers[1], 'a')
  await waitFor(
    `the away client to catch up (${away.got.length}/${forA.length})`,
    () => away.got.length >= forA.length
  )
  expect(away.got.map(keyOf)).toEqual(forA)
  expect(away.gaps).toEqual([])
  for (const [client, server, room] of [
    [stay, servers[1], 'b'],
    [peer, servers[2], 'a']
  ] as const) {
    const expected = server.log.filter((e) => e.data.room === room).map(keyOf)
    await waitFor(`${room} to have everything`, () => client.got.length >= expected.length)
    expect(client.got.map(keyOf)).toEqual(expected)
    expect(expected.some((k) => k.endsWith(':local'))).toBe(true)
  }
  // Resolvers' safe data only: the secret never reaches a client.
  for (const client of [away, stay, peer]) {
    expect(client.got.filter((g) => 'secret' in g.data).map(keyOf)).toEqual([])
  }
  for (const server of servers) expect(server.errors).toEqual([])
}
