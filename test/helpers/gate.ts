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
   * Silences the open connections whose client has sent bytes matching `pattern`: from now on nothing
   * passes either way and the sockets stay open, as when a firewall forgets a flow. New ones pass.
   * Resolves how many were silenced.
   */
  silence(pattern: RegExp): number
  close(): Promise<void>
}

export async function startGate(targetPort: number): Promise<Gate> {
  let blocked = false
  const sockets = new Set<net.Socket>()
  // Each client socket, what it has sent so far (for `silence`), and how to silence it.
  const clients = new Map<net.Socket, { sent: string; mute: () => void }>()
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
    client.on('close', () => {
      clients.delete(client)
      upstream.destroy()
    })
    const entry = {
      sent: '',
      mute: () => {
        client.unpipe(upstream)
        upstream.unpipe(client)
        // Read and drop, so neither side sees its writes refused.
        client.on('data', () => undefined)
        upstream.on('data', () => undefined)
        clients.delete(client)
      }
    }
    clients.set(client, entry)
    client.on('data', (chunk: Buffer) => {
      if (clients.has(client)) entry.sent = (entry.sent + chunk.toString('latin1')).slice(-4_096)
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
    silence: (pattern) => {
      const matching = [...clients.values()].filter(({ sent }) => pattern.test(sent))
      for (const { mute } of matching) mute()
      return matching.length
    },
    close: () => {
      cut()
      return new Promise((resolve) => server.close(() => resolve()))
    }
  }
}
