import cluster, { type Worker } from 'node:cluster'
import { createDebug } from '../../src/debug'
import { SyncConfigError, SyncError, SyncMessageError } from '../../src/errors'
import { frame, isOurs, parseWorkerFrame, type PrimaryFrame, type WorkerFrame } from './protocol'

const debug = createDebug('feathers-fanout/cluster-primary')

/** Options of `setupPrimary()`. */
export interface SetupPrimaryOptions {
  /**
   * Hears every problem the relay meets: a malformed frame from a worker, a frame it could not
   * send to a worker that was going away. None of them stops the relay.
   * @default problems only go to the `feathers-fanout/cluster-primary` debug log
   */
  onError?: (error: SyncError) => void
}

/** Counters of the relay in the primary. */
export interface ClusterRelayStats {
  /** Workers with at least one subscription right now. */
  workers: number
  /** Subscriptions (worker × key) right now. */
  subscriptions: number
  /** Messages copied to a worker. */
  relayed: number
  /** Frames dropped: malformed, or for a worker that was gone. */
  dropped: number
}

/** The relay `setupPrimary()` returns. */
export interface ClusterRelay {
  stats(): ClusterRelayStats
  /** Stops relaying and removes the relay's listeners from `cluster`. Safe to call more than once. */
  close(): void
}

let current: ClusterRelay | undefined

/**
 * Call once in the primary process of a `cluster` app, before or after forking workers: it relays
 * the cluster adapter's messages between the workers, with no broker. Workers then use
 * `sync({ uri: 'cluster://' })`. Other IPC traffic is left alone. Calling it again returns the
 * running relay.
 */
export function setupPrimary(options: SetupPrimaryOptions = {}): ClusterRelay {
  if (cluster.isWorker) {
    throw new SyncConfigError(
      'setupPrimary',
      'setupPrimary() must be called in the cluster primary, not in a worker'
    )
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new SyncConfigError('onError', `Option "onError" must be a function, got ${typeof options.onError}`)
  }
  if (current) return current

  // Worker id → the keys it subscribed to. Workers of the `cluster` module are looked up by id,
  // so a worker that died and was replaced (a new id) starts with no subscriptions.
  const subscriptions = new Map<number, Set<string>>()
  const counters = { relayed: 0, dropped: 0 }
  const report = (error: SyncError) => {
    counters.dropped++
    debug(error)
    try {
      options.onError?.(error)
    } catch (cause) {
      debug('onError threw', cause)
    }
  }

  const send = (worker: Worker, message: PrimaryFrame): boolean => {
    if (worker.isDead() || !worker.isConnected()) return false
    try {
      // The callback form: a channel that closes in the meantime reports here instead of
      // emitting 'error' on the worker.
      worker.send(message, (error: Error | null) => {
        if (error)
          report(new SyncError('SYNC_PUBLISH', `Could not relay to worker ${worker.id}`, { cause: error }))
      })
      return true
    } catch (cause) {
      report(new SyncError('SYNC_PUBLISH', `Could not relay to worker ${worker.id}`, { cause }))
      return false
    }
  }

  const relay = (key: string, message: PrimaryFrame, except?: Worker) => {
    // Every subscribed worker gets it, the sender too unless it said it has no use for it: other
    // apps in the sender's process are subscribers like any other.
    for (const [id, keys] of subscriptions) {
      const worker = cluster.workers?.[id]
      if (!keys.has(key) || !worker || worker === except) continue
      if (send(worker, message)) counters.relayed++
    }
  }

  const handle = (worker: Worker, incoming: WorkerFrame) => {
    const { key } = incoming
    if (incoming.type === 'publish') {
      // Rebuilt rather than forwarded, so nothing but the tag, key and data travels on.
      relay(
        key,
        frame({ type: 'message', key, data: incoming.data }),
        incoming.echo === false ? worker : undefined
      )
    } else if (incoming.type === 'subscribe') {
      let keys = subscriptions.get(worker.id)
      if (!keys) subscriptions.set(worker.id, (keys = new Set()))
      keys.add(key)
      send(worker, frame({ type: 'subscribed', key }))
    } else {
      const keys = subscriptions.get(worker.id)
      keys?.delete(key)
      if (keys?.size === 0) subscriptions.delete(worker.id)
    }
  }

  const onMessage = (worker: Worker, message: unknown) => {
    if (!isOurs(message)) return
    const parsed = parseWorkerFrame(message)
    if (typeof parsed === 'string') {
      report(
        new SyncMessageError('shape', `Dropped a malformed cluster frame from worker ${worker.id}: ${parsed}`)
      )
      return
    }
    handle(worker, parsed)
  }
  const onGone = (worker: Worker) => {
    subscriptions.delete(worker.id)
  }

  cluster.on('message', onMessage)
  cluster.on('exit', onGone)
  cluster.on('disconnect', onGone)
  for (const worker of Object.values(cluster.workers ?? {})) {
    if (worker) send(worker, frame({ type: 'hello' }))
  }

  const running: ClusterRelay = {
    stats: () => ({
      workers: subscriptions.size,
      subscriptions: [...subscriptions.values()].reduce((total, keys) => total + keys.size, 0),
      ...counters
    }),
    close() {
      cluster.removeListener('message', onMessage)
      cluster.removeListener('exit', onGone)
      cluster.removeListener('disconnect', onGone)
      subscriptions.clear()
      if (current === running) current = undefined
    }
  }
  current = running
  return running
}
