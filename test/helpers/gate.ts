import net from 'node:net'

/** A TCP relay to a local broker whose door can be held shut, to decide when a client may reconnect. */
export interface Gate {
  port: number
  /** Refuses new connections (existing ones stay). */
  block(): void
  open(): void
  /** Drops every connection through the gate now, as a network cut would. */
  cut(): void
  /**
   * Stops relaying on the live connections, both ways, as a stalled link would: what either side
   * sends from now on never arrives (the gate only counts it, see `held`). New connections relay.
   */
  hold(): void
  /** Bytes held since `hold()`, sent by the clients (`fromClients`) and by the broker. */
  held(): { fromClients: number; fromBroker: number }
  close(): Promise<void>
}

export async function startGate(targetPort: number): Promise<Gate> {
  let blocked = false
  const sockets = new Set<net.Socket>()
  const pairs = new Set<[net.Socket, net.Socket]>()
  const held = { fromClients: 0, fromBroker: 0 }
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
    const pair: [net.Socket, net.Socket] = [client, upstream]
    pairs.add(pair)
    upstream.on('close', () => client.destroy())
    client.on('close', () => {
      pairs.delete(pair)
      upstream.destroy()
    })
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
    hold: () => {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream)
        upstream.unpipe(client)
        // Unpiped streams are paused; a 'data' listener alone would not restart them.
        client.on('data', (chunk: Buffer) => (held.fromClients += chunk.length)).resume()
        upstream.on('data', (chunk: Buffer) => (held.fromBroker += chunk.length)).resume()
      }
    },
    held: () => ({ ...held }),
    close: () => {
      cut()
      return new Promise((resolve) => server.close(() => resolve()))
    }
  }
}
