/**
 * A tiny TCP load balancer on loopback: clients connect to one port, it forwards to the current backend.
 * `cut()` drops every connection and refuses new ones until `switchTo(port)` names the next backend, so
 * one socket.io client reconnects (by itself, same URL) to another instance, as behind a real balancer.
 */
import net from 'node:net'
import type { AddressInfo } from 'node:net'

export interface SwitchProxy {
  url: string
  cut(): void
  switchTo(port: number): void
  close(): Promise<void>
}

export async function startSwitchProxy(firstPort: number): Promise<SwitchProxy> {
  let target: number | undefined = firstPort
  const open = new Set<net.Socket>()
  const track = (socket: net.Socket) => {
    open.add(socket)
    socket.on('close', () => open.delete(socket))
    socket.on('error', () => socket.destroy())
  }
  const server = net.createServer((client) => {
    track(client)
    if (target === undefined) return void client.destroy()
    const upstream = net.connect(target, '127.0.0.1')
    track(upstream)
    client.pipe(upstream).pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    cut() {
      target = undefined
      for (const socket of open) socket.destroy()
    },
    switchTo(next) {
      target = next
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy()
        server.close(() => resolve())
      })
  }
}
