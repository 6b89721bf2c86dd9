import type { ChannelModel } from 'amqplib'

/**
 * The socket under an amqplib connection. amqplib keeps it as `connection.stream` and has no public way
 * to reach it; these helpers are the adapter's only uses of it.
 */
type Stream = {
  destroyed: boolean
  writableLength: number
  destroy(error?: Error): void
  once(event: 'finish', listener: () => void): void
}

const streamOf = (model: ChannelModel | undefined): Stream | undefined =>
  (model?.connection as { stream?: Stream } | undefined)?.stream

/**
 * Drops the socket under `model`: the last resort when a hung broker never answers our close. With a
 * `cause`, amqplib hears of it (it watches its socket's `error` and `end`, not `close`) and fails every
 * pending call on the connection.
 */
export function destroySocket(model: ChannelModel | undefined, cause?: Error): void {
  streamOf(model)?.destroy(cause)
}

/**
 * Frees the socket of a connection amqplib has closed (lost, timed out, closed by either side), once
 * what it still had to write is out, and after `graceMs` at the latest (a hung broker reads nothing).
 *
 * amqplib only ends such a socket (half-close) and stops reading it: once a frame arrives after the
 * close, its reader throws on every frame and leaves the rest in the buffer, so Node stops reading
 * from the kernel and never hears of the broker's FIN or reset. After a heartbeat timeout (a broker
 * hung while it streamed deliveries) the socket and its file descriptor stayed open for good, one
 * more per outage.
 */
export function releaseSocket(model: ChannelModel, graceMs: number): void {
  const stream = streamOf(model)
  if (!stream || stream.destroyed) return
  if (stream.writableLength === 0) return stream.destroy()
  const timer = setTimeout(() => stream.destroy(), graceMs)
  timer.unref()
  stream.once('finish', () => {
    clearTimeout(timer)
    stream.destroy()
  })
}
