/**
 * Runs `npm run bench` with tiny counts on Redis only, to prove the script works end to end: it starts
 * its own Redis, forks one publisher and one subscriber per implementation, measures, and writes its
 * results. It asserts what was delivered and what was written, never how fast.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { BenchResult } from '../bench/docs'
import type { ProfileResult } from '../bench/profile'
import { profileMarkdown } from '../bench/profile-docs'
import { scalingChart, scalingSection } from '../bench/scaling-docs'

const ROOT = path.join(__dirname, '..')
const RUN_TIMEOUT_MS = 90_000

/** Runs the bench script; resolves with its exit code and output, killing it after a bound. */
function runBench(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/index.ts'), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    // SIGTERM, not SIGKILL: the script's broker harness stops its Redis on SIGTERM.
    const timer = setTimeout(() => child.kill('SIGTERM'), RUN_TIMEOUT_MS)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })
}

describe('npm run bench', () => {
  let dir: string

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-bench-'))
  })

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it('measures feathers-fanout (pub/sub, batched, durable, durable batched), feathers-sync and the bare client on Redis and writes its results', async () => {
    const { code, output } = await runBench(['--smoke', '--broker', 'redis', '--no-docs', '--out', dir])
    expect({ code, output: code === 0 ? '' : output }).toEqual({ code: 0, output: '' })
    expect(output).toMatch(/transport\s+implementation/)

    const result = JSON.parse(fs.readFileSync(path.join(dir, 'latest.json'), 'utf8')) as BenchResult
    expect(result.machine.brokers.redis).toMatch(/^Redis \d+\.\d+/)
    expect(result.summary.map((row) => `${row.transport}/${row.impl}`).sort()).toEqual([
      'redis/bare',
      'redis/fanout',
      'redis/fanout-batch',
      'redis/fanout-durable',
      'redis/fanout-durable-batch',
      'redis/feathers-sync'
    ])
    for (const row of result.summary) {
      expect({ impl: row.impl, delivered: row.delivered, duplicates: row.duplicates }).toEqual({
        impl: row.impl,
        delivered: 1,
        duplicates: 0
      })
      expect(Number.isFinite(row.eventsPerSecond) && Number.isFinite(row.p99)).toBe(true)
    }
    // The bare client has no listeners of its own; the Feathers apps do.
    expect(result.summary.find((row) => row.impl === 'bare')?.localP99).toBeNull()
    expect(result.summary.find((row) => row.impl === 'fanout')?.localP99).toEqual(expect.any(Number))
    expect(result.ratios.map((row) => row.versus).sort()).toEqual([
      'bare',
      'fanout-batch',
      'fanout-durable',
      'fanout-durable-batch',
      'feathers-sync'
    ])
    const [wire] = result.wire
    expect(wire.feathersSync).toBeGreaterThan(wire.fanout)
    // The consumer group of 3 on Redis: every event handled once.
    expect(
      result.groups?.map(({ transport, members, events, repeats }) => ({
        transport,
        members,
        events,
        repeats
      }))
    ).toEqual([{ transport: 'redis', members: 3, events: 300, repeats: 0 }])
    expect(result.groups?.[0].eventsPerSecond).toBeGreaterThan(0)
  }, 120_000)

  it('measures how cost grows with the subscribers (--scaling): feathers-fanout and the bare client per point', async () => {
    const out = path.join(dir, 'scaling')
    const { code, output } = await runBench([
      '--smoke',
      '--scaling',
      '--broker',
      'redis',
      '--impl',
      'bare',
      '--no-docs',
      '--out',
      out
    ])
    expect({ code, output: code === 0 ? '' : output }).toEqual({ code: 0, output: '' })
    const result = JSON.parse(fs.readFileSync(path.join(out, 'latest.json'), 'utf8')) as BenchResult
    const points = result.scaling ?? []
    expect(points.map((p) => `${p.transport}/${p.impl}/${p.subscribers}/${p.size}`).sort()).toEqual([
      'redis/bare/1/200',
      'redis/bare/2/200',
      'redis/fanout/1/200',
      'redis/fanout/2/200'
    ])
    for (const point of points) {
      expect({ impl: point.impl, subscribers: point.subscribers, delivered: point.delivered }).toEqual({
        impl: point.impl,
        subscribers: point.subscribers,
        delivered: 1
      })
      expect(Number.isFinite(point.eventsPerSecond) && Number.isFinite(point.subscriberCpuUs)).toBe(true)
      // The publisher's own listener exists only in the Feathers app.
      expect(point.localP99 === null).toBe(point.impl === 'bare')
    }
    const section = scalingSection(points, 'npm run bench -- --scaling').join('\n')
    expect(section).toMatch(/\| redis \| 200 B \| 2 \| [\d,]+ \| [\d,]+ \|/)
    expect(section).toContain('### Sizing a fleet')
    expect(scalingChart(points).match(/<polyline /g)).toHaveLength(2)
  }, 120_000)

  it('profiles the publisher and a subscriber of feathers-fanout and the bare client (--profile) and splits their CPU per event by where the code lives', async () => {
    const out = path.join(dir, 'profile')
    const args = [
      '--smoke',
      '--profile',
      '--broker',
      'redis',
      '--impl',
      'fanout,bare',
      '--no-docs',
      '--out',
      out
    ]
    const { code, output } = await runBench(args)
    expect({ code, output: code === 0 ? '' : output }).toEqual({ code: 0, output: '' })
    const result = JSON.parse(fs.readFileSync(path.join(out, 'profile.json'), 'utf8')) as ProfileResult
    expect(result.cases.map((c) => `${c.transport}/${c.impl}/${c.size}`)).toEqual([
      'redis/fanout/200',
      'redis/bare/200'
    ])
    for (const profiled of result.cases) {
      expect(profiled.processes.map((p) => p.role)).toEqual(['publisher', 'subscriber'])
      for (const process of profiled.processes) {
        const split = Object.values(process.groups).reduce((sum, us) => sum + us, 0)
        expect({ impl: profiled.impl, role: process.role, sampled: process.samples > 0 }).toEqual({
          impl: profiled.impl,
          role: process.role,
          sampled: true
        })
        expect(process.cpuUs).toBeGreaterThan(0)
        expect(split).toBeCloseTo(process.cpuUs, 6)
      }
    }
    // The bare client runs none of this project's code; the fanout publisher does.
    const [fanout, bare] = result.cases
    expect(bare.processes.map((p) => p.groups.library)).toEqual([0, 0])
    expect(fanout.processes[0].top.length).toBeGreaterThan(0)
    const page = profileMarkdown(result, undefined)
    expect(page).toMatch(/^\| publisher, µs per event \| fanout \| bare \|$/m)
    expect(page).toMatch(
      /- \*\*redis, throughput vs bare client\*\*: per event, fanout costs the publisher [\d.]+ µs/
    )
    expect(page).toContain(
      '- **redis, throughput vs feathers-sync**: not profiled in this run (needs fanout and feathers-sync).'
    )
  }, 120_000)
})
