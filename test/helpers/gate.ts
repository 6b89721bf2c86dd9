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
   * Stops relaying on every live connection, both ways, as a stalled link would: what either side
   * sends from now on never arrives (the gate only counts it, see `held`). New connections relay.
   */
  hold(): void
  /** Bytes held since `hold()` or `silence()`, sent by the clients (`fromClients`) and by the broker. */
  held(): { fromClients: number; fromBroker: number }
  /**
   * Like `hold()`, for the open connections whose client has sent bytes matching `pattern` only, as
   * when a firewall forgets a flow; the sockets stay open. Returns how many were silenced.
   */
  silence(pattern: RegExp): number
  /**
   * Stops reading what the broker sends on every live connection, as a client too slow to read would:
   * the broker's writes back up (in the kernel, then in the broker). `flow()` reads and relays again.
   */
  stall(): void
  flow(): void
  /**
   * Relays what the broker sends at about `bytesPerSecond` on every connection opened from now on, as
   * a slow link or a slow reader would: the broker's messages queue up in front of the client.
   */
  throttle(bytesPerSecond: number): void
  close(): Promise<void>
}

export async function startGate(targetPort: number): Promise<Gate> {
  let blocked = false
  let bytesPerSecond = Infinity
  const sockets = new Set<net.Socket>()
  const held = { fromClients: 0, fromBroker: 0 }
  // Each relayed client socket, the last bytes it sent (for `silence`), and how to stop relaying it.
  const clients = new Map<
    net.Socket,
    { sent: string; mute: () => void; stall: () => void; flow: () => void }
  >()
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
    if (bytesPerSecond < Infinity) {
      const rate = bytesPerSecond
      upstream.on('data', (chunk: Buffer) => {
        upstream.pause()
        setTimeout(() => upstream.resume(), (chunk.length / rate) * 1_000)
      })
    }
    upstream.on('close', () => client.destroy())
    client.on('close', () => {
      clients.delete(client)
      upstream.destroy()
    })
    const entry = {
      sent: '',
      mute: () => {
        clients.delete(client)
        client.unpipe(upstream)
        upstream.unpipe(client)
        // Unpiped streams are paused; a 'data' listener alone would not restart them. Read and count,
        // so neither side sees its writes refused.
        client.on('data', (chunk: Buffer) => (held.fromClients += chunk.length)).resume()
        upstream.on('data', (chunk: Buffer) => (held.fromBroker += chunk.length)).resume()
      },
      stall: () => {
        upstream.unpipe(client)
        upstream.pause()
      },
      flow: () => void upstream.pipe(client)
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
  const silence = (pattern: RegExp): number => {
    const matching = [...clients.values()].filter(({ sent }) => pattern.test(sent))
    for (const { mute } of matching) mute()
    return matching.length
  }
  return {
    port,
    block: () => void (blocked = true),
    open: () => void (blocked = false),
    cut,
    hold: () => void silence(/(?:)/),
    held: () => ({ ...held }),
    silence,
    stall: () => [...clients.values()].forEach(({ stall }) => stall()),
    throttle: (rate) => void (bytesPerSecond = rate),
    flow: () => [...clients.values()].forEach(({ flow }) => flow()),
    close: () => {
      cut()
      return new Promise((resolve) => server.close(() => resolve()))
    }
  }
}
