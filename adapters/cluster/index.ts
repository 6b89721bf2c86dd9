import cluster from 'node:cluster'
import { BROADCAST_ONLY, type Adapter, type ResolvedOptions } from '../../src/adapter'
import { SyncConfigError } from '../../src/errors'
import { workerLink, type Member } from './worker'

export { setupPrimary, type ClusterRelay, type ClusterRelayStats, type SetupPrimaryOptions } from './primary'

function checkUri(uri: string | undefined): void {
  // The channel is chosen with `key`; a host or path here would suggest a broker that is not there.
  if (uri !== undefined && !/^cluster:(\/\/\/?)?$/i.test(uri)) {
    throw new SyncConfigError(
      'uri',
      `Option "uri" must be exactly "cluster://" for the cluster adapter, got "${uri}"`
    )
  }
}

function checkWorker(): void {
  if (!cluster.isWorker || !cluster.worker) {
    // A plain child_process.fork() child has process.send too, but its parent is not a relay and
    // may not expect our frames (some parents throw on unknown IPC messages), so it is refused.
    throw new SyncConfigError(
      'uri',
      'The cluster adapter only runs in a cluster worker (a process started by cluster.fork(), with an ' +
        'IPC channel to its primary); this process is not one. Fork workers from a primary that calls setupPrimary() ' +
        "from 'feathers-fanout', or use a broker such as redis:// between separate processes"
    )
  }
}

/**
 * Creates the adapter of a `cluster` worker: messages travel over the worker's IPC channel to the
 * primary, whose `setupPrimary()` relay copies them to every worker subscribed to the same key.
 */
export function createClusterAdapter(options: ResolvedOptions): Adapter {
  checkUri(options.uri)
  checkWorker()
  const link = workerLink()
  const { key } = options
  let member: Member | undefined
  return {
    type: 'cluster',
    capabilities: BROADCAST_ONLY,
    get target() {
      // Read when `ready` times out: until the primary has answered, it says what to check.
      return link.target
    },
    async connect(hooks) {
      member = { key, hooks, echo: options.echo === true }
      link.join(member)
    },
    subscribe(onMessage) {
      if (!member) return Promise.reject(new Error('subscribe() before connect()'))
      return link.subscribe(member, onMessage)
    },
    publish(payload) {
      return link.publish(key, payload)
    },
    async close() {
      if (member) link.leave(member)
      member = undefined
    }
  }
}
