/**
 * Starts the fault suite's app instances as separate processes (child processes, or `cluster` workers
 * for the cluster adapter) running test/faults/instance.ts, talks to them over IPC, and kills them.
 */
import { fork, type ChildProcess } from 'node:child_process'
import cluster from 'node:cluster'
import path from 'node:path'
import { TSX_IMPORT } from '../helpers/cluster-harness'
import { CONFIG_ENV, isChildMessage, type ChildMessage, type Command, type InstanceConfig } from './protocol'

const SCRIPT = path.join(__dirname, 'instance.ts')
const START_TIMEOUT_MS = 60_000
const REPLY_TIMEOUT_MS = 30_000

/** How instances are started: plain child processes, or workers of this process's cluster. */
export type Spawn = 'process' | 'cluster'

export interface Instance {
  readonly index: number
  readonly pid: number
  /** Everything the process wrote to stdout and stderr. */
  readonly output: string[]
  /** Resolves once the instance's `app.sync.ready` resolved; rejects if it rejected or the process died. */
  readonly started: Promise<void>
  /** Why the process ended when nobody killed it, or undefined while it runs (or was killed on purpose). */
  crashed(): string | undefined
  run<T>(command: Command, timeoutMs?: number): Promise<T>
  /** SIGKILL, and waits until the process is gone. */
  kill(): Promise<void>
}

const live = new Set<Instance>()

function spawnProcess(config: InstanceConfig, how: Spawn): { proc: ChildProcess; send(m: object): void } {
  const env = { [CONFIG_ENV]: JSON.stringify(config) }
  if (how === 'cluster') {
    cluster.setupPrimary({ exec: SCRIPT, execArgv: TSX_IMPORT, args: [], silent: true })
    const worker = cluster.fork(env)
    return { proc: worker.process, send: (message) => worker.send(message) }
  }
  const proc = fork(SCRIPT, [], {
    execArgv: TSX_IMPORT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc']
  })
  return { proc, send: (message) => proc.send(message) }
}

/** Starts one instance; await `started` before using it. */
export function startInstance(config: InstanceConfig, how: Spawn): Instance {
  const { proc, send } = spawnProcess(config, how)
  const output: string[] = []
  const pending = new Map<number, (reply: Extract<ChildMessage, { fault: 'reply' }>) => void>()
  let nextId = 0
  let ended: string | undefined
  let killed = false
  let onStarted: (message: Extract<ChildMessage, { fault: 'started' }>) => void = () => undefined
  const startMessage = new Promise<Extract<ChildMessage, { fault: 'started' }>>(
    (resolve) => (onStarted = resolve)
  )
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))

  proc.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
  proc.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
  proc.on('message', (message: unknown) => {
    if (!isChildMessage(message)) return
    if (message.fault === 'started') onStarted(message)
    else pending.get(message.id)?.(message)
  })
  proc.once('exit', (code, signal) => {
    ended = `exited (${code ?? signal})`
    onStarted({ fault: 'started', ready: false, error: `${ended}: ${output.join('')}` })
    for (const [id, resolve] of pending)
      resolve({ fault: 'reply', id, error: `instance ${config.index} ${ended}` })
  })

  let timer: NodeJS.Timeout | undefined
  const started = Promise.race([
    startMessage.then((message) => {
      if (!message.ready) throw new Error(`instance ${config.index} did not get ready: ${message.error}`)
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`instance ${config.index} not ready in time`)),
        START_TIMEOUT_MS
      )
    })
  ]).finally(() => clearTimeout(timer))

  const instance: Instance = {
    index: config.index,
    pid: proc.pid as number,
    output,
    started,
    crashed: () => (killed ? undefined : ended),
    run<T>(command: Command, timeoutMs = REPLY_TIMEOUT_MS): Promise<T> {
      const id = ++nextId
      return new Promise<T>((resolve, reject) => {
        const timeout = setTimeout(() => {
          pending.delete(id)
          reject(new Error(`instance ${config.index} did not answer "${command.cmd}" within ${timeoutMs} ms`))
        }, timeoutMs)
        pending.set(id, (reply) => {
          clearTimeout(timeout)
          pending.delete(id)
          if (reply.error !== undefined) reject(new Error(reply.error))
          else resolve(reply.value as T)
        })
        if (ended)
          return pending.get(id)?.({ fault: 'reply', id, error: `instance ${config.index} ${ended}` })
        send({ fault: 'cmd', id, ...command })
      })
    },
    async kill() {
      killed = true
      if (!ended) proc.kill('SIGKILL')
      await exited
      live.delete(instance)
    }
  }
  live.add(instance)
  return instance
}

/** Starts one instance per config and waits until every one is ready. */
export async function startFleet(configs: InstanceConfig[], how: Spawn): Promise<Instance[]> {
  const fleet = configs.map((config) => startInstance(config, how))
  await Promise.all(fleet.map((instance) => instance.started))
  return fleet
}

/** Kills every instance this process started and has not killed yet. */
export async function killAll(): Promise<void> {
  await Promise.all([...live].map((instance) => instance.kill()))
}
