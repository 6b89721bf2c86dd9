import net from 'node:net'

/** A TCP relay on 127.0.0.1 in front of a broker, to cut one client's connection and keep it out. */
export interface Gate {
  readonly port: number
  /** Drops every relayed connection and refuses new ones until `open()`. */
  cut(): void
  /** Lets connections through again. */
  open(): void
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
  const dropAll = () => sockets.forEach((socket) => socket.destroy())
  return {
    port,
    cut: () => {
      blocked = true
      dropAll()
    },
    open: () => void (blocked = false),
    close: () => {
      dropAll()
      return new Promise((resolve) => server.close(() => resolve()))
    }
  }
}
