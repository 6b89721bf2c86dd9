/**
 * Starts group proof members (test/groups/member.ts) as separate processes, and reads the books their
 * handlers keep in Redis.
 */
import { fork, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { Redis } from 'ioredis'
import { TSX_IMPORT } from '../helpers/cluster-harness'
import { isReport, MEMBER_ENV, type MemberConfig } from './protocol'

const SCRIPT = path.join(__dirname, 'member.ts')
// Generous: three members compile and start at once, on a machine that may be busy with other tests.
const READY_TIMEOUT_MS = 90_000

export interface MemberProcess {
  readonly index: number
  readonly proc: ChildProcess
  readonly problems: string[]
  readonly output: string[]
  /** The last stage its start reported. */
  stage: string
  /** Its last answer to askStats(): sync status and group stats. */
  stats: string
  readonly ready: Promise<void>
  /** SIGKILL, and waits until the process is gone. */
  kill(): Promise<void>
  /** Asks for its status and group stats (into `stats`); waits for the answer at most `timeoutMs`. */
  askStats(timeoutMs?: number): Promise<void>
  describe(): string
}

const live = new Set<MemberProcess>()

export function startMember(config: MemberConfig): MemberProcess {
  const proc = fork(SCRIPT, [], {
    execArgv: TSX_IMPORT,
    env: { ...process.env, [MEMBER_ENV]: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc']
  })
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  let onReady: () => void = () => undefined
  let onFail: (error: Error) => void = () => undefined
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve
    onFail = reject
  })
  const timer = setTimeout(
    () =>
      onFail(
        new Error(
          `member ${config.index} not ready within ${READY_TIMEOUT_MS} ms: ${member.describe()}; ` +
            `output: ${member.output.join('').slice(-2_000) || 'none'}`
        )
      ),
    READY_TIMEOUT_MS
  )
  void ready.finally(() => clearTimeout(timer)).catch(() => undefined)
  void exited.then(() => onFail(new Error(`member ${config.index} exited before it was ready`)))
  const member: MemberProcess = {
    index: config.index,
    proc,
    problems: [],
    output: [],
    stage: 'starting',
    stats: 'not asked',
    ready,
    kill: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
      await exited
    },
    askStats: async (timeoutMs = 2_000) => {
      if (proc.exitCode !== null || proc.signalCode !== null || !proc.connected) return
      let listen: (message: unknown) => void = () => undefined
      let timer: NodeJS.Timeout | undefined
      const answered = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs)
        listen = (message) => {
          if (isReport(message) && message.kind === 'stats') resolve(true)
        }
        proc.on('message', listen)
      })
      proc.send('stats')
      if (!(await answered)) member.stats = `no stats within ${timeoutMs} ms`
      clearTimeout(timer)
      proc.off('message', listen)
    },
    describe: () =>
      `member ${config.index} (pid ${proc.pid}, ${proc.exitCode ?? proc.signalCode ?? 'running'}, ` +
      `${member.stage}), ${member.stats}, ` +
      `problems: ${member.problems.slice(0, 3).join(' | ') || 'none'}`
  }
  proc.stdout?.on('data', (chunk: Buffer) => member.output.push(chunk.toString()))
  proc.stderr?.on('data', (chunk: Buffer) => member.output.push(chunk.toString()))
  proc.on('message', (message: unknown) => {
    if (!isReport(message)) return
    if (message.kind === 'ready') {
      member.stage = 'ready'
      onReady()
    } else if (message.kind === 'stage') member.stage = message.text
    else if (message.kind === 'stats') member.stats = message.text
    else member.problems.push(message.text)
  })
  live.add(member)
  void exited.then(() => live.delete(member))
  return member
}

/** Kills whatever members are still running (bounded: SIGKILL). */
export async function killAll(): Promise<void> {
  await Promise.all([...live].map((member) => member.kill()))
}

/** One completed handling, as a member's handler wrote it down. */
export interface Handling {
  n: number
  deliveries: number
  attempt: number
  /** When it completed, in ms since the epoch (the members run on this machine: one clock). */
  at: number
}

/** What the members' handlers wrote to Redis. */
export interface Books {
  /** Per member: the event numbers its handler started. */
  started: Set<number>[]
  /**
   * Per member: each completed handling, with its delivery count and attempt (a handler whose books
   * write failed, or whose reply was lost in a Redis crash, is retried: attempt 2 of the same delivery).
   */
  handled: Handling[][]
  /** How many times each event number was handled, over every member. */
  counts: Map<number, number>
}

export async function readBooks(uri: string, key: string, members: number): Promise<Books> {
  const raw = new Redis(uri, { maxRetriesPerRequest: 1 })
  try {
    const started: Set<number>[] = []
    const handled: Books['handled'] = []
    const counts = new Map<number, number>()
    for (let index = 0; index < members; index++) {
      started.push(new Set((await raw.smembers(`{${key}}:started:${index}`)).map(Number)))
      // A row written twice (the same token: a write resent after the books' Redis restarted) is one
      // handling; see member.ts.
      const unique = new Set(await raw.lrange(`{${key}}:handled:${index}`, 0, -1))
      const rows = [...unique].map((row) => {
        const [n, deliveries, attempt, at] = row.split(':').map(Number)
        counts.set(n, (counts.get(n) ?? 0) + 1)
        return { n, deliveries, attempt, at }
      })
      handled.push(rows)
    }
    return { started, handled, counts }
  } finally {
    raw.disconnect()
  }
}
