/**
 * The bare cluster relay, run in the primary: the least a relay must do. A worker subscribes once; a
 * message is sent as is to every other worker on its key (not back to its sender, which knows it).
 */
import cluster, { type Worker } from 'node:cluster'
import { isBareFrame } from './members/bare-cluster'

/** Starts relaying; returns the function that stops it. */
export function startBareRelay(): () => void {
  const subscribers = new Map<string, Worker[]>()
  const onMessage = (worker: Worker, message: unknown): void => {
    if (!isBareFrame(message)) return
    const workers = subscribers.get(message.bare) ?? []
    if (message.op === 'sub') {
      subscribers.set(message.bare, [...workers, worker])
      worker.send({ bare: message.bare, op: 'ok' })
      return
    }
    for (const other of workers) if (other !== worker) other.send(message)
  }
  const onExit = (worker: Worker): void => {
    for (const [key, workers] of subscribers) {
      subscribers.set(
        key,
        workers.filter((other) => other !== worker)
      )
    }
  }
  cluster.on('message', onMessage)
  cluster.on('exit', onExit)
  return () => {
    cluster.off('message', onMessage)
    cluster.off('exit', onExit)
  }
}
