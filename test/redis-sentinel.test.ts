/**
 * The Redis adapter through Sentinel: a private Redis master and one Sentinel watching it, started
 * with the harness' own `launch()` (a Sentinel needs a writable config file, which startRedis has not).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ensureBinary, freePort, launch, redisCommand, startRedis, type BrokerHandle } from './brokers'
import { SyncConnectionError } from '../src/index'
import { createFleet, createTestApp, teardownFleet, uniqueKey, waitFor, type TestApp } from './helpers/apps'

async function startSentinel(masterPort: number): Promise<BrokerHandle> {
  const binary = ensureBinary('redis-server', 'redis-server')
  return launch(async () => {
    const port = await freePort()
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `fanout-sentinel-${port}-`))
    const config = path.join(dir, 'sentinel.conf')
    return {
      kind: 'redis' as const,
      port,
      url: `redis://127.0.0.1:${port}`,
      dir,
      command: binary,
      args: [config, '--sentinel'],
      // Sentinel rewrites its config file, so it is written afresh before every start.
      prepare: () =>
        fs.writeFileSync(
          config,
          [
            `port ${port}`,
            'bind 127.0.0.1',
            `dir ${dir}`,
            `sentinel monitor fanout 127.0.0.1 ${masterPort} 1`,
            ''
          ].join('\n')
        ),
      probe: () =>
        redisCommand(port, ['PING'], 500).then(
          (reply) => reply === 'PONG',
          () => false
        ),
      readyTimeoutMs: 10_000
    }
  }, 3)
}

let master: BrokerHandle
let sentinel: BrokerHandle
let fleet: TestApp[] = []

beforeAll(async () => {
  master = await startRedis({ extraArgs: ['--user', 'app', 'on', '>s3nt-pw', '~*', '&*', '+@all'] })
  sentinel = await startSentinel(master.port)
}, 30_000)

afterAll(async () => {
  await teardownFleet(fleet)
  await sentinel?.stop()
  await master?.stop()
})

describe('redis through sentinel', () => {
  it('finds the master through Sentinel and syncs over it, with the credentials of the uri', async () => {
    const key = uniqueKey('sentinel')
    fleet = await createFleet(2, {
      key,
      uri: 'redis://app:s3nt-pw@master-from-sentinel',
      redisOptions: { sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name: 'fanout' }
    })
    const marker = uniqueKey('sentinel')
    await fleet[0].app.service('todos').create({ marker })
    await waitFor(
      'the event through the sentinel-found master',
      () => fleet[1].seen('created', marker).length === 1
    )
    const clients = await redisCommand(master.port, ['CLIENT', 'LIST'])
    expect(clients.split('\n').filter((line) => line.includes('user=app'))).toHaveLength(4)
    expect(fleet.every(({ errors }) => errors.length === 0)).toBe(true)
  })

  it('names the sentinels when none knows the master, once per problem and never with the password', async () => {
    const app = createTestApp({
      key: uniqueKey('sentinel'),
      uri: 'redis://app:s3nt-pw@master-from-sentinel',
      redisOptions: { sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name: 'no-such-master' },
      // Long enough for a first attempt to fail on a loaded machine: the rejection quotes its error.
      connectTimeoutMs: 2_000
    })
    fleet.push(app)
    const reason = await app.app.sync.ready.catch((error: unknown) => error)
    expect(reason).toBeInstanceOf(SyncConnectionError)
    expect((reason as SyncConnectionError).target).toBe(`127.0.0.1:${sentinel.port}`)
    // ioredis retries every few ms with a new delay in each message; the app hears it once.
    await waitFor('the sentinel failure to be reported', () => app.errors.length >= 2)
    // The readiness timeout quotes the last adapter error; the adapter itself reports it once.
    expect((reason as SyncConnectionError).message).toMatch(/last error: .*sentinels are unreachable/)
    const reports = app.errors.filter((error) => error !== reason && /sentinel/i.test(error.message))
    expect(reports).toHaveLength(1)
    expect(app.errors.every((error) => !error.message.includes('s3nt-pw'))).toBe(true)
  })
})
