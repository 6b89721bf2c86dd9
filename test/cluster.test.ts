/**
 * The cluster adapter with real processes: this Jest process is the primary (setupPrimary()) and
 * forks `cluster` workers. The shared conformance suite runs in a nested Jest inside one worker;
 * the other tests use several workers running test/helpers/cluster-worker.ts.
 */
import cluster from 'node:cluster'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { feathers } from '@feathersjs/feathers'
import {
  setupPrimary,
  sync,
  SyncConfigError,
  SyncMessageError,
  type ClusterRelay,
  type SyncError
} from '../src/index'
import { uniqueKey, waitFor } from './helpers/apps'
import { forkReady, forkWorker, killAll, ROOT, waitSeen, type TestWorker } from './helpers/cluster-harness'

let relay: ClusterRelay
const relayErrors: SyncError[] = []

beforeEach(() => {
  relay = setupPrimary({ onError: (error) => relayErrors.push(error) })
})
afterEach(async () => {
  await killAll()
  relay.close()
  relayErrors.length = 0
})

/** Polls an async condition, bounded like waitFor. */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** `sender` creates a marker and every worker of `fleet` sees it: everything `sender` sent before is in. */
async function barrier(fleet: TestWorker[], sender: TestWorker): Promise<void> {
  const marker = uniqueKey('barrier')
  await sender.run('create', { marker })
  await waitSeen(fleet, 'created', marker)
}

interface JestResult {
  numTotalTests: number
  numPassedTests: number
  numFailedTests: number
  testResults: { assertionResults: { fullName: string; status: string; failureMessages: string[] }[] }[]
}

describe('outside a cluster worker', () => {
  it('refuses to configure cluster:// and says it needs a cluster worker', () => {
    for (const configure of [sync({ uri: 'cluster://' }), sync.cluster()]) {
      const attempt = () => feathers().configure(configure)
      expect(attempt).toThrow(SyncConfigError)
      expect(attempt).toThrow(/only runs in a cluster worker .*setupPrimary\(\)/)
    }
  })

  it('refuses a cluster uri with a host or path in it', () => {
    expect(() => feathers().configure(sync({ uri: 'cluster://somewhere:1234' }))).toThrow(
      /exactly "cluster:\/\/"/
    )
  })

  it('setupPrimary() returns the running relay when called twice', () => {
    expect(setupPrimary()).toBe(relay)
  })
})

describe('across worker processes', () => {
  it('delivers each event once to every worker; the sender hears its own at once, not again', async () => {
    const fleet = await forkReady(3)
    const markers = await Promise.all(
      fleet.map(async (worker, index) => {
        const marker = uniqueKey(`w${index}`)
        await worker.run('create', { marker })
        return marker
      })
    )
    for (const marker of markers) await waitSeen(fleet, 'created', marker)
    for (const sender of fleet) await barrier(fleet, sender)
    fleet.forEach((worker, index) => {
      for (const [from, marker] of markers.entries()) {
        const seen = worker.seen('created', marker)
        expect(seen).toHaveLength(1)
        expect(seen[0].remote).toBe(from !== index)
      }
    })
    expect(relay.stats()).toMatchObject({ workers: 3, subscriptions: 3, dropped: 0 })
  })

  it.each(['json', 'advanced'] as const)(
    'carries bson bytes and dates over %s IPC serialization',
    async (serialization) => {
      const [sender, receiver] = await forkReady(2, { serialization, sync: { serializer: 'bson' } })
      const marker = uniqueKey('bytes')
      const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff, 0]).toString('base64')
      const at = '2026-01-02T03:04:05.678Z'
      await sender.run('status', { marker, bytes, at })
      await waitSeen([receiver], 'status', marker)
      expect(receiver.seen('status', marker)).toEqual([
        { test: 'event', event: 'status', marker, remote: true, bytes, at }
      ])
    }
  )

  it("lets a replacement worker rejoin; a dead worker's last messages arrive exactly once, never again", async () => {
    const [doomed, b, c] = await forkReady(3)
    const prefix = uniqueKey('last-words')
    await doomed.run('burst', { prefix, count: 20 })
    await doomed.kill()
    await waitFor('the relay to forget the dead worker', () => relay.stats().workers === 2)
    await barrier([b, c], b)
    const [replacement] = await forkReady(1)
    const hello = uniqueKey('hello')
    await replacement.run('create', { marker: hello })
    await waitSeen([b, c], 'created', hello)
    const back = uniqueKey('back')
    await b.run('create', { marker: back })
    await waitSeen([replacement, c], 'created', back)
    await barrier([b, c, replacement], c)
    for (const survivor of [b, c]) {
      for (let i = 0; i < 20; i++) expect(survivor.seen('created', `${prefix}-${i}`)).toHaveLength(1)
    }
    expect(replacement.events.filter((e) => e.marker?.startsWith(prefix))).toEqual([])
    expect(relay.stats().workers).toBe(3)
  })

  it('ignores unrelated IPC traffic, drops malformed frames both ways without crashing, and keeps relaying', async () => {
    // Every report on its own, not summarised: this test counts them.
    const [a, b] = await forkReady(2, { sync: { errorReportIntervalMs: 0 } })
    const key = 'feathers-sync'
    // From a worker to the primary: 3 messages that are not ours, 6 malformed ones of ours.
    expect(await a.run('garbage', { key })).toBe(9)
    // From the primary to a worker: not ours, then malformed frames of ours.
    b.worker.send('a plain string')
    b.worker.send({ source: '_sio_adapter', type: 1 })
    b.worker.send({ source: 'feathers-fanout', v: 1, type: 'message', key: 42, data: 'x' })
    b.worker.send({ source: 'feathers-fanout', v: 1, type: 'message', key, data: { base64: 1 } })
    const marker = uniqueKey('still-alive')
    await a.run('create', { marker })
    await waitSeen([b], 'created', marker)
    await waitFor('the relay to report the malformed frames', () => relayErrors.length === 6)
    expect(relayErrors.every((error) => error instanceof SyncMessageError)).toBe(true)
    expect(relay.stats().dropped).toBe(6)
    const errors = await b.run<{ name: string; message: string }[]>('errors')
    expect(errors.map((error) => error.name)).toEqual(['SyncMessageError', 'SyncMessageError'])
    expect(errors[0].message).toMatch(/malformed frame from the cluster primary/)
    expect(await a.run('errors')).toEqual([])
  })

  it('rejects ready after connectTimeoutMs saying setupPrimary() must be called, and joins once it is', async () => {
    relay.close()
    const lonely = forkWorker({ sync: { connectTimeoutMs: 300 } })
    const started = await lonely.started
    expect(started.ready).toBe(false)
    expect(started.name).toBe('SyncConnectionError')
    expect(started.message).toMatch(/setupPrimary\(\) must be called in the primary process/)
    expect(started.message).toContain(`pid ${process.pid}`)
    // The worker keeps asking; a relay started late (before or after forking) picks it up.
    relay = setupPrimary({ onError: (error) => relayErrors.push(error) })
    await eventually('the worker to become ready', async () => (await lonely.run('syncStatus')) === 'ready')
    const [other] = await forkReady(1)
    const marker = uniqueKey('late')
    await other.run('create', { marker })
    await waitSeen([lonely], 'created', marker)
  })

  it('setupPrimary() throws in a worker', async () => {
    const [worker] = await forkReady(1)
    expect(await worker.run('setupPrimary')).toEqual({
      name: 'SyncConfigError',
      message: expect.stringMatching(/must be called in the cluster primary, not in a worker/)
    })
  })
})

describe('the conformance suite', () => {
  it('passes inside a real cluster worker, json and bson, with several apps in that worker', async () => {
    const outputFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-cluster-')), 'result.json')
    const config = {
      rootDir: ROOT,
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', isolatedModules: true }] },
      testMatch: ['<rootDir>/test/helpers/cluster-suite.ts'],
      testTimeout: 20_000
    }
    // A nested Jest transforms TypeScript itself: no tsx loader here.
    cluster.setupPrimary({
      exec: require.resolve('jest/bin/jest'),
      execArgv: [],
      // --forceExit: a cluster worker never exits by itself while its primary is connected.
      args: [
        '--config',
        JSON.stringify(config),
        '--runInBand',
        '--ci',
        '--forceExit',
        '--json',
        '--outputFile',
        outputFile
      ],
      silent: true,
      serialization: 'json'
    })
    const jest = cluster.fork({ JEST_WORKER_ID: undefined })
    const output: string[] = []
    jest.process.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
    jest.process.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => jest.process.kill('SIGKILL'), 50_000)
      jest.once('exit', (exitCode) => {
        clearTimeout(timer)
        resolve(exitCode)
      })
    })
    if (!fs.existsSync(outputFile))
      throw new Error(`The nested Jest wrote no result (exit ${code}):\n${output.join('')}`)
    const result = JSON.parse(fs.readFileSync(outputFile, 'utf8')) as JestResult
    fs.rmSync(path.dirname(outputFile), { recursive: true, force: true })
    const failures = result.testResults
      .flatMap((file) => file.assertionResults)
      .filter((test) => test.status !== 'passed')
      .map((test) => `${test.fullName}: ${test.failureMessages.join('\n')}`)
    expect({ code, failures }).toEqual({ code: 0, failures: [] })
    // Every test of the shared suite ran under both serializers, plus the worker-local one.
    const names = result.testResults.flatMap((file) => file.assertionResults.map((test) => test.fullName))
    const json = names.filter((name) => name.startsWith('conformance: cluster (json)'))
    const bson = names.filter((name) => name.startsWith('conformance: cluster (bson)'))
    expect(json.length).toBeGreaterThanOrEqual(7)
    expect(bson).toHaveLength(json.length)
    expect(names).toContain(
      'cluster adapter inside one worker keeps apps on different keys in one worker apart'
    )
    expect(result.numPassedTests).toBe(result.numTotalTests)
  }, 60_000)
})
