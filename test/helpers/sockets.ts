import net from 'node:net'

/**
 * The open TCP sockets of this process, each as `localPort→remotePort state (bytes read)`; `half-closed`:
 * this side ended it and has not seen the peer's end. Only those to `remotePort` when given.
 */
export function openSockets(remotePort?: number): string[] {
  // Node has no public list of handle objects; the deprecated one is still there in Node 20 and 22.
  const list = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles
  const sockets = (list?.call(process) ?? []).filter(
    (handle): handle is net.Socket => handle instanceof net.Socket
  )
  return sockets
    .filter((socket) => remotePort === undefined || socket.remotePort === remotePort)
    .map((socket) => {
      const state = socket.connecting
        ? 'connecting'
        : socket.writableEnded
          ? socket.readableEnded
            ? 'closing'
            : 'half-closed'
          : socket.readyState
      return `${socket.localPort ?? '?'}→${socket.remotePort ?? '?'} ${state} (${socket.bytesRead} B in)`
    })
}
