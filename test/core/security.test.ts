import { createHmac } from 'node:crypto'
import { memoryBus, SyncConfigError, SyncOversizeError, sync, type Payload } from '../../src/index'
import { SequenceWindow } from '../../src/protocol/window'
import { Sealer } from '../../src/protocol/security'
import { createFleet, teardownFleet, uniqueKey, waitFor, type TestApp } from '../helpers/apps'

const SECRET = 'a-shared-secret-of-at-least-32-bytes!!'
const OLD_SECRET = 'the-previous-secret-also-32-bytes-long!'
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.sig'

let fleet: TestApp[] = []
afterEach(async () => {
  await teardownFleet(fleet)
  fleet = []
})

const envelope = (marker: string, sender = 'feedfacecafebeef', id = 1) =>
  JSON.stringify({ event: 'created', path: 'todos', data: { marker }, context: null, v: 1, sender, id })

async function securedFleet(extra: Record<string, unknown> = {}) {
  const name = uniqueKey('secure')
  const key = 'secure'
  // Every drop reported one by one (no storm summary), so each one's reason can be checked.
  const options = { uri: `memory://${name}`, key, secrets: [SECRET], errorReportIntervalMs: 0, ...extra }
  fleet = await createFleet(2, options)
  const captured: Payload[] = []
  fleet[0].app.on('sync-out', (payload: Payload) => captured.push(payload))
  return { bus: memoryBus(name), key, captured, sender: fleet[0], receiver: fleet[1] }
}

describe('signed messages', () => {
  it('delivers correctly signed traffic', async () => {
    const { sender, receiver } = await securedFleet()
    await sender.app.service('todos').create({ marker: 'signed' })
    await waitFor('the signed event', () => receiver.seen('created', 'signed').length === 1)
  })

  it('drops unsigned, forged, tampered, replayed and stale messages, and counts each', async () => {
    const { bus, key, captured, sender, receiver } = await securedFleet()
    await sender.app.service('todos').create({ marker: 'genuine' })
    await waitFor('the genuine event', () => receiver.seen('created', 'genuine').length === 1)
    const genuine = Buffer.from(captured[0] as Uint8Array)

    bus.publish(key, envelope('unsigned'))
    const forged = new Sealer({ secrets: ['an-attacker-secret-that-is-32-bytes-long'] })
    bus.publish(key, forged.seal(envelope('forged'), 'badbadbadbadbad0', 1))
    const tampered = Buffer.from(genuine)
    tampered[60] ^= 0xff
    bus.publish(key, tampered)
    bus.publish(key, genuine) // a replay of a captured message
    const staleSealer = new Sealer({ secrets: [SECRET] }, key)
    bus.publish(key, staleSealer.seal(envelope('stale'), 'abcdefabcdefabcd', 1, Date.now() - 60_000))

    await waitFor('five refusals', () => {
      const { unauthenticated, replayed, stale } = receiver.app.sync.stats().dropped
      return unauthenticated + replayed + stale === 5
    })
    expect(receiver.app.sync.stats().dropped).toMatchObject({ unauthenticated: 3, replayed: 1, stale: 1 })
    expect(receiver.received.map((r) => r.data.marker)).toEqual(['genuine'])
    expect(receiver.errors.map((e) => e.message)).toEqual([
      'Dropped a message: message is not signed',
      'Dropped a message: message is signed with an unknown key',
      'Dropped a message: signature does not match',
      expect.stringMatching(/^Dropped a message: message is 6\d{4} ms old, outside ±30000 ms$/)
    ])
  })

  it('rotates keys without downtime: the first secret signs, every secret verifies', async () => {
    const name = uniqueKey('rotate')
    const old = (await createFleet(1, { uri: `memory://${name}`, secrets: [OLD_SECRET] }))[0]
    const rotated = (await createFleet(1, { uri: `memory://${name}`, secrets: [SECRET, OLD_SECRET] }))[0]
    fleet = [old, rotated]
    await old.app.service('todos').create({ marker: 'from-old' })
    await waitFor(
      'old-key message at the rotated instance',
      () => rotated.seen('created', 'from-old').length === 1
    )
    await rotated.app.service('todos').create({ marker: 'from-new' })
    await waitFor('the refusal at the old instance', () => old.app.sync.stats().dropped.unauthenticated === 1)
    expect(old.seen('created', 'from-new')).toHaveLength(0)
  })

  it('re-signs messages that waited in the outbox longer than half the window', async () => {
    const { bus, sender, receiver } = await securedFleet({ maxMessageAgeMs: 100 })
    bus.goOffline()
    await sender.app.service('todos').create({ marker: 'waited' })
    await new Promise((resolve) => setTimeout(resolve, 150))
    bus.goOnline()
    await waitFor('the delayed event', () => receiver.seen('created', 'waited').length === 1)
    expect(receiver.app.sync.stats().dropped.stale).toBe(0)
  })
})

describe('attacks on a running fleet (security review)', () => {
  it('refuses a frame copied from another channel (key) that shares the secret', async () => {
    const name = uniqueKey('channels')
    const production = await createFleet(1, { uri: `memory://${name}`, key: 'production', secrets: [SECRET] })
    const staging = await createFleet(1, { uri: `memory://${name}`, key: 'staging', secrets: [SECRET] })
    fleet = [...production, ...staging]
    const captured: Payload[] = []
    staging[0].app.on('sync-out', (payload: Payload) => captured.push(payload))
    await staging[0].app.service('todos').create({ marker: 'staging-only' })
    memoryBus(name).publish('production', captured[0])
    await waitFor('the refusal', () => production[0].app.sync.stats().dropped.unauthenticated === 1)
    expect(production[0].errors.map((error) => error.message)).toEqual([
      'Dropped a message: message is signed with an unknown key'
    ])
    expect(production[0].seen('created', 'staging-only')).toHaveLength(0)
  })

  it('flushes something a sync-out listener queued that is not a frame without throwing, and keeps going', async () => {
    const { bus, sender, receiver } = await securedFleet()
    bus.goOffline()
    // Shorter than a frame header: reading a send time from it would throw.
    sender.app.emit('sync-out', 'raw text')
    await sender.app.service('todos').create({ marker: 'after-raw' })
    expect(() => bus.goOnline()).not.toThrow()
    await waitFor('the queued event', () => receiver.seen('created', 'after-raw').length === 1)
    expect(receiver.app.sync.stats().dropped).toMatchObject({ unauthenticated: 1, stale: 0 })
  })

  it('drops what a custom adapter emits on sync-in that is neither text nor bytes, without throwing', async () => {
    const { receiver } = await securedFleet()
    const parsed = { event: 'created', path: 'todos', data: { marker: 'object' }, context: null }
    expect(() => receiver.app.emit('sync-in', parsed)).not.toThrow()
    expect(receiver.app.sync.stats().dropped.unauthenticated).toBe(1)
    expect(receiver.seen('created', 'object')).toHaveLength(0)
  })

  it('drops a message id of 2^53 or more as malformed, and the duplicate window never stalls on one', async () => {
    const name = uniqueKey('huge-id')
    fleet = await createFleet(1, { uri: `memory://${name}`, key: 'k' })
    // Past 2^53 `n + 1 === n`: a loop stepping from one id to the next would never end.
    memoryBus(name).publish('k', envelope('huge', 'feedfacecafebeef', 2 ** 53 + 6))
    memoryBus(name).publish('k', envelope('after', 'feedfacecafebeef', 5))
    await waitFor('the next message', () => fleet[0].seen('created', 'after').length === 1)
    expect(fleet[0].app.sync.stats().dropped.shape).toBe(1)
    const window = new SequenceWindow()
    expect(window.add('x', 2 ** 53 + 2)).toBe(true)
    expect(window.add('x', 2 ** 53 + 6)).toBe(true)
  })

  it.each(['__proto__', 'constructor', 'hasOwnProperty', 'toString'])(
    'drops a message for the path "%s" as an unknown path',
    async (path) => {
      const name = uniqueKey('proto')
      fleet = await createFleet(1, { uri: `memory://${name}`, key: 'k' })
      memoryBus(name).publish('k', JSON.stringify({ event: 'created', path, data: {}, context: null }))
      await waitFor('the drop', () => fleet[0].app.sync.stats().dropped.unknownPath === 1)
      expect(fleet[0].received).toHaveLength(0)
    }
  )
})

describe('encrypted messages', () => {
  it('hides the payload from the channel and still delivers it', async () => {
    const { captured, sender, receiver } = await securedFleet({ encrypt: true })
    await sender.app.service('todos').create({ marker: 'secret-plans' })
    await waitFor('the encrypted event', () => receiver.seen('created', 'secret-plans').length === 1)
    expect(Buffer.from(captured[0] as Uint8Array).includes('secret-plans')).toBe(false)
  })

  it('rejects a frame whose ciphertext was changed', async () => {
    const { bus, key, captured, sender, receiver } = await securedFleet({ encrypt: true })
    await sender.app.service('todos').create({ marker: 'x' })
    const changed = Buffer.from(captured[0] as Uint8Array)
    changed[changed.length - 20] ^= 1
    bus.publish(key, changed)
    await waitFor('the refusal', () => receiver.app.sync.stats().dropped.unauthenticated === 1)
  })
})

describe('size limits', () => {
  it('drops an oversize outgoing event with a typed error naming size and limit, keeping the local event', async () => {
    fleet = await createFleet(2, { uri: `memory://${uniqueKey('big')}`, maxMessageBytes: 1_000 })
    const [sender, receiver] = fleet
    await sender.app.service('todos').create({ marker: 'big', blob: 'x'.repeat(5_000) })
    expect(sender.seen('created', 'big')).toHaveLength(1)
    expect(sender.errors[0]).toBeInstanceOf(SyncOversizeError)
    // The 5 kB record travels twice: as the data and, by default (includeResult), as context.result.
    expect(sender.errors[0].message).toMatch(
      /^"created" of service "todos" is 10\d{3} bytes, over the limit of 1000 bytes$/
    )
    expect(sender.app.sync.stats().dropped.oversize).toBe(1)
    await sender.app.service('todos').create({ marker: 'small' })
    await waitFor('the small event', () => receiver.seen('created', 'small').length === 1)
    expect(receiver.seen('created', 'big')).toHaveLength(0)
  })

  it('drops an oversize incoming message before decoding it', async () => {
    const name = uniqueKey('big-in')
    fleet = await createFleet(1, { uri: `memory://${name}`, key: 'k', maxMessageBytes: 1_000 })
    const decode = jest.spyOn(fleet[0].app.sync, 'deserialize')
    memoryBus(name).publish('k', envelope('y'.repeat(2_000)))
    await waitFor('the oversize drop', () => fleet[0].app.sync.stats().dropped.oversize === 1)
    expect(decode).not.toHaveBeenCalled()
  })
})

describe('security options', () => {
  it.each([
    ['secrets[0]', { secrets: ['too short'] }],
    ['secrets', { secrets: [] }],
    // An unset environment variable: `secrets: [process.env.SYNC_SECRET]`.
    ['secrets[0]', { secrets: [undefined] }],
    ['secrets[1]', { secrets: [SECRET, 42] }],
    ['encrypt', { encrypt: true }],
    ['encrypt', { encrypt: 'yes', secrets: [SECRET] }],
    ['maxMessageAgeMs', { secrets: [SECRET], maxMessageAgeMs: 0 }],
    ['maxMessageBytes', { maxMessageBytes: -1 }]
  ])('names "%s" when it is wrong', (option, bad) => {
    expect(() => sync({ uri: 'memory://x', ...(bad as object) })).toThrow(SyncConfigError)
    try {
      sync({ uri: 'memory://x', ...(bad as object) })
    } catch (error) {
      expect((error as SyncConfigError).option).toBe(option)
    }
  })

  it('signs with HMAC-SHA256 over the whole frame (a wrong key cannot produce a valid tag)', () => {
    const sealer = new Sealer({ secrets: [SECRET] })
    const frame = sealer.seal('{}', '0123456789abcdef', 7)
    const forgedTag = createHmac('sha256', 'guess')
      .update(frame.subarray(0, frame.length - 32))
      .digest()
    const forged = Buffer.concat([frame.subarray(0, frame.length - 32), forgedTag])
    expect(sealer.open(forged)).toEqual({ refused: 'unauthenticated', why: 'signature does not match' })
    expect('body' in sealer.open(frame)).toBe(true)
  })
})

describe('what travels (security review)', () => {
  it('never puts a JWT from params.authentication, headers or the connection on the broker', async () => {
    const name = uniqueKey('jwt')
    fleet = await createFleet(2, { uri: `memory://${name}`, key: 'jwt' })
    const seenOnChannel: string[] = []
    memoryBus(name).subscribe('jwt', (payload) =>
      seenOnChannel.push(Buffer.from(payload as string).toString())
    )
    await fleet[0].app.service('todos').create({ marker: 'jwt' }, {
      provider: 'rest',
      authentication: { strategy: 'jwt', accessToken: JWT },
      headers: { authorization: `Bearer ${JWT}` },
      connection: { headers: { authorization: JWT } }
    } as never)
    await waitFor('the message on the channel', () => seenOnChannel.length === 1)
    expect(seenOnChannel[0]).toContain('"marker":"jwt"')
    expect(seenOnChannel.join('')).not.toContain(JWT)
  })
})
