import net from 'node:net'

/** A TCP relay to a local broker whose door can be held shut, to decide when a client may reconnect. */
export interface Gate {
  port: number
  /** Refuses new connections (existing ones stay). */
  block(): void
  open(): void
  /** Drops every connection through the gate now, as a network cut would. */
  cut(): void
  close(): Promise<void>
}

export async function startGate(targetPort: number): Promise<Gate> {
  let blocked = false
  const sockets = new Set<net.Socket>()
  const track = (socket: net.Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
  }
  const server = net.createServer((client) => {
    track(client)
    if (blocked) return void client.destroy()
    const upstream = net.connect(targetPort, '127.0.0.1')
    track(upstream)
    client.pipe(upstream).pipe(client)
    upstream.on('close', () => client.destroy())
    client.on('close', () => upstream.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  const cut = () => {
    for (const socket of sockets) socket.destroy()
  }
  return {
    port,
    block: () => void (blocked = true),
    open: () => void (blocked = false),
    cut,
    close: () => {
      cut()
      return new Promise((resolve) => server.close(() => resolve()))
    }
  }
}
