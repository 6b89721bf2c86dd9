import fs from 'node:fs'
import net from 'node:net'

// Brokers started by the test harness only ever listen on loopback.
export const LOOPBACK = '127.0.0.1'

/** Ports handed out lie below Linux's ephemeral range (32768+), so no client socket can take one. */
const PORT_LOW = 20_000
const PORT_HIGH = 32_000
const PORT_ATTEMPTS = 50
const PORT_SLICES = 4

function listenOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.unref()
    server.once('error', () => resolve(false))
    server.listen({ host: LOOPBACK, port, exclusive: true }, () => server.close(() => resolve(true)))
  })
}

/**
 * Finds an unused loopback port. It is drawn below the ephemeral range: a broker that is killed and
 * restarted on its port must not find it taken by some other test's outgoing connection meanwhile.
 * There is still a window between the probe and the broker binding the port, so broker starters retry
 * on a fresh port when a broker dies at startup (see BrokerProcess.start).
 */
export async function freePort(): Promise<number> {
  const [low, high] = workerSlice()
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low))
    if (await listenOnce(port)) return port
  }
  throw new Error(`freePort: no free port found in ${PORT_ATTEMPTS} tries between ${low} and ${high}`)
}

/**
 * The part of the range this process draws from: each Jest worker (and the main process, worker 0) has
 * its own, so a port a test frees while it restarts its broker is not drawn by another worker's test
 * meanwhile (seen once: a killed RabbitMQ's port answered before the restart).
 */
function workerSlice(): [number, number] {
  const worker = Number(process.env.JEST_WORKER_ID ?? 0)
  const size = Math.floor((PORT_HIGH - PORT_LOW) / PORT_SLICES)
  const low = PORT_LOW + ((Number.isInteger(worker) ? worker : 0) % PORT_SLICES) * size
  return [low, low + size]
}

/** Resolves true when a TCP connection to 127.0.0.1:port succeeds within timeoutMs, false otherwise. */
export function canConnect(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: LOOPBACK, port })
    const done = (ok: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), timeoutMs)
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Whether `promise` settles within `ms`; clears its timer so no handle outlives the wait. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)))
  try {
    return await Promise.race([promise.then(() => true), timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Waits until something accepts TCP connections on 127.0.0.1:port; rejects after timeoutMs. */
export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const remaining = deadline - Date.now()
    if (remaining <= 0)
      throw new Error(`Nothing accepted connections on ${LOOPBACK}:${port} within ${timeoutMs} ms`)
    if (await canConnect(port, Math.min(1000, remaining))) return
    await sleep(Math.min(100, Math.max(0, deadline - Date.now())))
  }
}

/** Inodes of the TCP sockets listening on `port` (Linux /proc; empty elsewhere). */
function listeningInodes(port: number): Set<string> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`
  const rows = ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((file) =>
    fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').slice(1) : []
  )
  const columns = rows.map((row) => row.trim().split(/\s+/))
  // Column 1 is the local address, 3 the state (0A: LISTEN), 9 the inode.
  return new Set(columns.filter((c) => c[1]?.endsWith(hex) && c[3] === '0A').map((c) => c[9]))
}

/** The socket inode behind a file descriptor, if it is one (it may close while we look). */
function socketInode(link: string): string | undefined {
  try {
    return /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(link))?.[1]
  } catch {
    return undefined
  }
}

/** Who listens on `port`, for error messages: "pid 123: beam.smp …", best effort (Linux /proc). */
export function portHolders(port: number): string {
  const inodes = listeningInodes(port)
  if (inodes.size === 0) return 'no listener found'
  const holders: string[] = []
  for (const pid of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const fds = fs.readdirSync(`/proc/${pid}/fd`)
      if (!fds.some((fd) => inodes.has(socketInode(`/proc/${pid}/fd/${fd}`) ?? ''))) continue
      const command = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').slice(0, 200)
      holders.push(`pid ${pid}: ${command}`)
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return holders.join('; ') || 'a process this user cannot inspect'
}

/**
 * Waits (bounded) until nothing accepts connections on 127.0.0.1:port, for a broker restarting on its
 * own port; the error names who holds it.
 */
export async function waitPortFree(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (await canConnect(port, 250)) {
    if (Date.now() >= deadline) {
      throw new Error(`${LOOPBACK}:${port} still taken after ${timeoutMs} ms, by ${portHolders(port)}`)
    }
    await sleep(100)
  }
}
