/**
 * The AMQP adapter when RabbitMQ misbehaves: unreachable at startup, SIGKILLed mid-stream, connections
 * closed by the server over and over, channel errors, a hung broker. One private broker for the file,
 * started by the first test on a port picked up front and reused by the others.
 */
import fs from 'node:fs'
import net from 'node:net'
import { runInNewContext } from 'node:vm'
import { setFlagsFromString } from 'node:v8'
import { connect } from 'amqplib'
import { SyncConnectionError, type SyncOptions } from '../src/index'
import { rabbitmqctl, rabbitmqRows, startRabbitMq, type BrokerHandle } from './brokers'
import {
  barrier,
  createFleet,
  createTestApp,
  teardownFleet,
  uniqueKey,
  waitFor,
  type TestApp
} from './helpers/apps'
import { describing } from './helpers/fleet-state'

jest.setTimeout(60_000)

const EPHEMERAL = '/proc/sys/net/ipv4/ip_local_port_range'

/**
 * A free port below the kernel's ephemeral range. This file's broker is down for seconds at a time (not
 * started yet, killed and restarted on the same ports): a port from the ephemeral range could meanwhile
 * be handed to another test's broker by `freePort()`, or be the source port of some connection.
 */
async function stablePort(): Promise<number> {
  const range = fs.existsSync(EPHEMERAL) ? fs.readFileSync(EPHEMERAL, 'utf8') : '32768'
  const low = Number(range.trim().split(/\s+/)[0])
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = low - 10_000 + Math.floor(Math.random() * 10_000)
    const bindable = await new Promise<boolean>((resolve) => {
      const server = net.createServer()
      server.once('error', () => resolve(false))
      server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)))
    })
    if (bindable) return port
  }
  throw new Error('no free port below the ephemeral range')
}

/**
 * A TCP relay to the broker that the test can shut: while shut it refuses new connections (and
 * `shut()` cuts the live ones), so one app can be kept away from the broker while others are back.
 */
async function createGate(
  upstreamPort: number
): Promise<{ port: number; open: boolean; shut(): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const gate = {
    port: 0,
    open: true,
    shut() {
      gate.open = false
      sockets.forEach((socket) => socket.destroy())
    },
    close: () =>
      new Promise<void>((resolve) => {
        gate.shut()
        server.close(() => resolve())
      })
  }
  const track = (socket: net.Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
  }
  const server = net.createServer((client) => {
    track(client)
    if (!gate.open) return void client.destroy()
    const upstream = net.connect(upstreamPort, '127.0.0.1')
    track(upstream)
    client.pipe(upstream).pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  // Not port 0: while another test's broker restarts, its port is free and port 0 could take it.
  gate.port = await stablePort()
  await new Promise<void>((resolve) => server.listen(gate.port, '127.0.0.1', resolve))
  return gate
}

/** A real GC, for heap measurements (Jest gives no --expose-gc). */
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const heapAfterGc = (): number => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

const everyStatus = (fleet: TestApp[], status: string) => fleet.every(({ app }) => app.sync.status === status)

describe('amqp adapter against a private RabbitMQ', () => {
  let port: number
  let distPort: number
  let broker: BrokerHandle | undefined
  let fleet: TestApp[] = []
  // On timeout, every instance's status and counters are in the message.
  const about = (what: string) => describing(what, () => fleet)
  const fast = { amqpRecovery: { initialDelayMs: 50, maxDelayMs: 300 } }
  const options = (key: string, extra: SyncOptions = {}): SyncOptions => ({
    uri: `amqp://guest:guest@127.0.0.1:${port}`,
    key,
    ...fast,
    ...extra
  })
  const running = async (): Promise<BrokerHandle> => (broker ??= await startRabbitMq({ port, distPort }))

  beforeAll(async () => {
    port = await stablePort()
    do distPort = await stablePort()
    while (distPort === port)
  })
  afterEach(async () => {
    await teardownFleet(fleet)
    fleet = []
  })
  afterAll(async () => {
    await broker?.stop()
  })

  it('rejects ready with a SyncConnectionError naming host and port, never credentials, then connects and delivers once RabbitMQ is up', async () => {
    const key = uniqueKey('amqp-late')
    // The sender goes through a gate opened once the receiver is subscribed, so that what it queued
    // before any broker existed has somewhere to go when it is flushed.
    const gate = await createGate(port)
    gate.shut()
    try {
      const receiver = createTestApp(options(key, { connectTimeoutMs: 500 }))
      const sender = createTestApp(
        options(key, { connectTimeoutMs: 500, uri: `amqp://guest:guest@127.0.0.1:${gate.port}` })
      )
      const stranger = createTestApp(
        options(key, { connectTimeoutMs: 500, uri: `amqp://someone:Sup3rSecret@127.0.0.1:${port}` })
      )
      fleet = [receiver, sender, stranger]
      for (const [member, target] of [
        [receiver, port],
        [sender, gate.port],
        [stranger, port]
      ] as const) {
        const error: unknown = await member.app.sync.ready.then(
          () => new Error('ready resolved without a broker'),
          (cause: unknown) => cause
        )
        expect(error).toBeInstanceOf(SyncConnectionError)
        expect((error as SyncConnectionError).target).toBe(`127.0.0.1:${target}`)
        expect((error as SyncConnectionError).message).toContain(`127.0.0.1:${target}`)
      }
      // Published before any broker was ever reached: it waits in the outbox.
      const marker = uniqueKey('early')
      await sender.app.service('todos').create({ marker })
      expect(sender.app.sync.stats().outbox.messages).toBe(1)

      await running()
      await waitFor(about('the receiver to connect'), () => receiver.app.sync.status === 'ready', 15_000)
      gate.open = true
      await waitFor(about('the sender to connect'), () => sender.app.sync.status === 'ready', 15_000)
      await waitFor(about('the early event'), () => receiver.seen('created', marker).length === 1)
      await barrier([sender, receiver], sender)
      // Wrong credentials: refused, reported, and retried, without ever showing who or the password.
      await waitFor(about('the refusal to be reported'), () =>
        stranger.errors.some((e) => /ACCESS.REFUSED/.test(e.message))
      )
      expect(stranger.app.sync.status).not.toBe('ready')
      for (const error of fleet.flatMap((member) => member.errors)) {
        expect(error).toBeInstanceOf(SyncConnectionError)
        expect(`${error.message} ${(error as SyncConnectionError).target}`).not.toMatch(
          /Sup3rSecret|someone|guest/
        )
      }
    } finally {
      await teardownFleet(fleet)
      await gate.close()
    }
  })

  it('survives a SIGKILL of RabbitMQ mid-stream, then delivers what was sent while it was down and later events exactly once', async () => {
    const rabbit = await running()
    const key = uniqueKey('amqp-kill')
    // The sender reaches the broker through a gate, so the test decides that it comes back last: its
    // queue-while-down flush then finds the receivers' new queues in place (each app's queue dies with
    // its connection, so nothing can reach an app before it has subscribed again).
    const gate = await createGate(rabbit.port)
    try {
      const receivers = await createFleet(2, options(key))
      const [sender] = await createFleet(
        1,
        options(key, { uri: `amqp://guest:guest@127.0.0.1:${gate.port}` })
      )
      fleet = [sender, ...receivers]
      const todos = sender.app.service('todos')
      const marker = uniqueKey('stream')
      const send = (phase: string, n: number) => todos.create({ marker, phase, n })
      const seenOf = (member: TestApp, phase: string, n: number) =>
        member.seen('created', marker).filter((r) => r.data.phase === phase && r.data.n === n).length

      for (let n = 0; n < 40; n++) await send('before', n)
      await barrier(fleet, sender)
      // Mid-stream, one event per timer tick: the broker hangs, 20 more go out and stay unconfirmed,
      // then it is killed while the stream goes on until every app has noticed.
      let streamed = 0
      const stream = async (count: number) => {
        for (let i = 0; i < count; i++) {
          await send('stream', streamed++)
          await new Promise((resolve) => setTimeout(resolve, 1))
        }
      }
      await stream(20)
      rabbit.pause()
      const stuck = [streamed, streamed + 20]
      await stream(20)
      const killed = rabbit.kill('SIGKILL')
      while (!everyStatus(fleet, 'reconnecting') && streamed < 2_000) await stream(1)
      await killed
      gate.shut()
      for (let n = 0; n < 40; n++) await send('down', n)
      expect(sender.app.sync.stats().outbox.messages).toBeGreaterThanOrEqual(60)

      await rabbit.restart()
      await waitFor(about('the receivers to resubscribe'), () => everyStatus(receivers, 'ready'), 15_000)
      gate.open = true
      await waitFor(about('the sender to reconnect'), () => sender.app.sync.status === 'ready', 15_000)
      await barrier(fleet, sender)
      const sent = [
        ...[...Array(40).keys()].map((n) => `before ${n}`),
        ...[...Array(streamed).keys()].map((n) => `stream ${n}`),
        ...[...Array(40).keys()].map((n) => `down ${n}`)
      ]
      for (const receiver of receivers) {
        const got = receiver.seen('created', marker).map((r) => `${r.data.phase} ${r.data.n}`)
        // Never twice, and in the order sent: unconfirmed messages went back to the outbox in order.
        expect(got).toEqual(sent.filter((label) => got.includes(label)))
        for (let n = 0; n < 40; n++) expect(seenOf(receiver, 'before', n)).toBe(1)
        for (let n = 0; n < 40; n++) expect(seenOf(receiver, 'down', n)).toBe(1)
        // What the hung broker never read was resent. (What it had queued but not yet delivered when
        // it died is lost with it: the receivers' queues died too.)
        for (let n = stuck[0]; n < stuck[1]; n++) expect(seenOf(receiver, 'stream', n)).toBe(1)
      }
      const duplicatesBefore = receivers.map(({ app }) => app.sync.stats().dropped.duplicate)
      for (let n = 0; n < 40; n++) await send('after', n)
      await barrier(fleet, sender)
      for (const [i, receiver] of receivers.entries()) {
        for (let n = 0; n < 40; n++) expect(seenOf(receiver, 'after', n)).toBe(1)
        expect(receiver.app.sync.stats().dropped.duplicate).toBe(duplicatesBefore[i])
      }
      for (const member of fleet) {
        expect(member.app.listenerCount('sync-out')).toBe(1)
        expect(member.errors.every((error) => error instanceof SyncConnectionError)).toBe(true)
        expect(member.app.sync.stats().reconnects).toBeGreaterThanOrEqual(1)
      }
    } finally {
      await teardownFleet(fleet)
      await gate.close()
    }
  })

  it('comes back from 50 lost connections (5 closed by the server, 45 cut on the wire) with one publish path, channel and consumer per app, and a flat heap (feathers-sync #202)', async () => {
    const rabbit = await running()
    const key = uniqueKey('amqp-churn')
    const gate = await createGate(rabbit.port)
    try {
      // Each forced close is counted below, so every report is emitted (no storm summary).
      const uri = `amqp://guest:guest@127.0.0.1:${gate.port}`
      fleet = await createFleet(2, options(key, { uri, errorReportIntervalMs: 0 }))
      const [a, b] = fleet
      const listeners = (member: TestApp) =>
        member.app.eventNames().reduce((sum, name) => sum + member.app.listenerCount(name), 0)
      const cycle = async (drop: () => Promise<void>) => {
        const before = fleet.map(({ app }) => app.sync.stats().reconnects)
        await drop()
        await waitFor(about('every app to reconnect'), () =>
          fleet.every(({ app }, i) => app.sync.stats().reconnects > before[i] && app.sync.status === 'ready')
        )
        await barrier(fleet, a)
        await barrier(fleet, b)
        // What the test itself keeps (received events, stored todos) must not count as growth.
        for (const member of fleet) {
          member.received.length = 0
          member.errors.length = 0
          ;(member.app.service('todos') as unknown as { store: object }).store = {}
        }
      }
      const serverClose = async () =>
        void (await rabbitmqctl(rabbit, 'close_all_connections', 'fanout churn test'))
      const wireCut = async () => {
        gate.shut()
        gate.open = true
      }
      const forced: string[] = []
      for (const member of fleet) member.app.on('sync-error', (error: Error) => forced.push(error.message))
      const listenersBefore = fleet.map(listeners)
      for (let i = 0; i < 5; i++) await cycle(serverClose)
      expect(forced.filter((message) => /CONNECTION.FORCED/.test(message)).length).toBeGreaterThanOrEqual(10)
      // Warm-up, so that lazily built code and caches do not count as growth.
      for (let i = 0; i < 5; i++) await cycle(wireCut)
      const heapBefore = heapAfterGc()
      for (let i = 0; i < 40; i++) await cycle(wireCut)
      const growth = heapAfterGc() - heapBefore

      for (const [i, member] of fleet.entries()) {
        expect(member.app.listenerCount('sync-out')).toBe(1)
        expect(listeners(member)).toBe(listenersBefore[i])
        expect(member.app.sync.stats().reconnects).toBe(50)
        // A cut can take the confirm of the other app's last barrier: it is resent and arrives twice (the
        // copy dropped as a duplicate, at-least-once), so at most one per lost connection. A consumer
        // doubled by a reconnect would instead duplicate every later message (and show in the broker's
        // list of consumers below).
        expect(member.app.sync.stats().dropped.duplicate).toBeLessThanOrEqual(50)
      }
      // What the broker holds for the two apps: nothing left over from the 50 connections before.
      expect(await rabbitmqRows(rabbit, 'list_connections', 'name')).toHaveLength(2)
      expect(await rabbitmqRows(rabbit, 'list_channels', 'number')).toHaveLength(2)
      expect(await rabbitmqRows(rabbit, 'list_consumers', 'queue_name')).toHaveLength(2)
      // feathers-sync's exchange, and server-named exclusive auto-delete queues.
      const exchanges = await rabbitmqRows(rabbit, 'list_exchanges', 'name', 'type', 'durable', 'auto_delete')
      expect(exchanges.filter(([name]) => name === key)).toEqual([[key, 'fanout', 'false', 'false']])
      const queues = await rabbitmqRows(rabbit, 'list_queues', 'name', 'exclusive', 'auto_delete', 'durable')
      expect(queues).toHaveLength(2)
      for (const [name, ...flags] of queues) {
        expect(name).toMatch(/^amq\.gen-/)
        expect(flags).toEqual(['true', 'true', 'false'])
      }
      const bindings = await rabbitmqRows(rabbit, 'list_bindings', 'source_name', 'destination_name')
      expect(bindings.filter(([source]) => source === key)).toHaveLength(2)
      // Bounded: keeping each dead session (what feathers-sync did with its channels) grows far more.
      expect(growth).toBeLessThan(1024 * 1024)
    } finally {
      await teardownFleet(fleet)
      await gate.close()
    }
  })

  it('recovers from a channel error and from a hung broker (heartbeat timeout) without crashing (feathers-sync #143)', async () => {
    const rabbit = await running()
    const key = uniqueKey('amqp-errors')
    fleet = await createFleet(2, options(key, { amqpConnectionOptions: { heartbeat: 1 } }))
    const [a, b] = fleet
    // Someone deletes the exchange: each app's next publish fails with 404 and closes its channel.
    const admin = await connect(rabbit.url)
    await (await admin.createChannel()).deleteExchange(key)
    await admin.close()
    const lost = uniqueKey('lost-exchange')
    await Promise.all([a, b].map(({ app }) => app.service('todos').create({ marker: lost })))
    await waitFor(about('the channel errors'), () =>
      fleet.every(({ errors }) => errors.some((e) => /404/.test(e.message)))
    )
    await waitFor(about('both apps to reconnect'), () =>
      fleet.every(({ app }) => app.sync.stats().reconnects === 1 && app.sync.status === 'ready')
    )
    await barrier(fleet, a)
    await barrier(fleet, b)

    // A hung broker: no heartbeats for 2-3 s, so both apps drop the connection and retry.
    rabbit.pause()
    try {
      await waitFor(about('heartbeat timeouts'), () => everyStatus(fleet, 'reconnecting'), 10_000)
    } finally {
      rabbit.resume()
    }
    await waitFor(about('both apps to reconnect'), () => everyStatus(fleet, 'ready'), 20_000)
    await barrier(fleet, a)
    await barrier(fleet, b)
    for (const { errors } of fleet) {
      expect(errors.some((e) => /Heartbeat timeout/.test(e.message))).toBe(true)
      expect(errors.every((error) => error instanceof SyncConnectionError)).toBe(true)
    }
  })

  it('drops a message over the broker max_message_size instead of retrying it forever, and keeps going', async () => {
    const rabbit = await running()
    await rabbitmqctl(rabbit, 'eval', 'application:set_env(rabbit, max_message_size, 4096).')
    try {
      const key = uniqueKey('amqp-oversize')
      // Channels read the limit when they open: these apps start after it was lowered.
      fleet = await createFleet(2, options(key))
      const [sender, receiver] = fleet
      const big = uniqueKey('big')
      await sender.app.service('todos').create({ marker: big, text: 'x'.repeat(8_000) })
      await waitFor(about('the oversize drop'), () => sender.app.sync.stats().dropped.oversize === 1)
      await waitFor(about('the sender to reconnect'), () => sender.app.sync.status === 'ready')
      await barrier(fleet, sender)
      expect(receiver.seen('created', big)).toHaveLength(0)
      expect(sender.app.sync.stats().reconnects).toBe(1)
    } finally {
      await rabbitmqctl(rabbit, 'eval', 'application:set_env(rabbit, max_message_size, 134217728).')
    }
  })

  it('reports a memory alarm that blocks publishing, stays connected, and delivers what waited once it clears', async () => {
    const rabbit = await running()
    fleet = await createFleet(2, options(uniqueKey('amqp-blocked')))
    const [sender, receiver] = fleet
    await barrier(fleet, sender)
    await rabbitmqctl(rabbit, 'set_vm_memory_high_watermark', '0.000001')
    try {
      const marker = uniqueKey('blocked')
      await sender.app.service('todos').create({ marker })
      await waitFor(about('the block to be reported'), () =>
        sender.errors.some((e) => /blocked/i.test(e.message))
      )
      expect(sender.errors[0]).toBeInstanceOf(SyncConnectionError)
      expect(receiver.seen('created', marker)).toHaveLength(0)
      expect(sender.app.sync.status).toBe('ready')
      await rabbitmqctl(rabbit, 'set_vm_memory_high_watermark', '0.4')
      await waitFor(about('the event that waited'), () => receiver.seen('created', marker).length === 1)
    } finally {
      await rabbitmqctl(rabbit, 'set_vm_memory_high_watermark', '0.4')
    }
  })
})
