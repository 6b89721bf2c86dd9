// What the AMQP adapter says about a lost session: the broker's reason without amqplib's re-wrapping,
// and the error that tells a deleted exchange or queue from a lost connection.
import { SyncConnectionError, SyncSubscriptionError } from '../../src/errors'
import { topologyLoss } from './session'

// amqplib re-wraps errors from another realm (e.g. under Jest) as `Error: <message>`.
export const reasonOf = (cause: Error) => cause.message.replace(/^Error: /, '')

/** Why a session ended: a deleted exchange or queue (the connection may be fine), or a lost connection. */
export const lossError = (target: string, key: string, cause: Error): SyncConnectionError => {
  const lost = topologyLoss(cause)
  if (lost === undefined) {
    return new SyncConnectionError(target, `Lost the connection to RabbitMQ at ${target}`, { cause })
  }
  const what =
    lost === 'exchange'
      ? `The exchange "${key}" on RabbitMQ at ${target} is gone (deleted?); declaring it again`
      : `The queue of this instance on RabbitMQ at ${target} was deleted; declaring a new one`
  return new SyncSubscriptionError(target, key, `${what}: ${reasonOf(cause)}`, { cause })
}
