import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import type { BrokerHandle } from './index'
import { ensureBinary } from './install'
import { freePort, LOOPBACK } from './ports'
import { launch, type BrokerSpec } from './process'
import type { BrokerTls } from './tls'

export interface RedisOptions {
  /** Fixed port (needed to reuse a port); by default a free one is picked. */
  port?: number
  /** Extra redis-server arguments; a function is called again for each start attempt (fresh ports). */
  extraArgs?: string[] | (() => Promise<string[]>)
  readyTimeoutMs?: number
  /** Serve TLS only, on `port` (plain TCP is off); the handle's url is then `rediss://`. */
  tls?: BrokerTls
}

function encode(args: string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`
}

/** Parses one simple, error, integer or bulk-string reply; undefined while incomplete. */
function parseReply(buffer: Buffer): { value: string } | { error: string } | undefined {
  const lineEnd = buffer.indexOf('\r\n')
  if (lineEnd < 0) return undefined
  const type = String.fromCharCode(buffer[0] ?? 0)
  const line = buffer.subarray(1, lineEnd).toString()
  if (type === '+' || type === ':') return { value: line }
  if (type === '-') return { error: line }
  if (type !== '$') return { error: `unsupported reply type ${JSON.stringify(type)}` }
  const length = Number(line)
  if (length < 0) return { value: '' }
  const start = lineEnd + 2
  if (buffer.length < start + length + 2) return undefined
  return { value: buffer.subarray(start, start + length).toString() }
}

/** A TLS connection that trusts `options.caFile` and presents the server's own certificate as a client. */
function connectTls(port: number, options: BrokerTls): tls.TLSSocket {
  const read = (file: string) => fs.readFileSync(file)
  const { caFile, certFile, keyFile } = options
  return tls.connect({ host: LOOPBACK, port, ca: read(caFile), cert: read(certFile), key: read(keyFile) })
}

/**
 * Sends one command to the Redis on 127.0.0.1:port over a raw socket and resolves its reply as a string.
 * A raw socket (not ioredis) so that probing a booting server never leaves reconnect timers behind.
 * With `tlsOptions`, over TLS (for a server started with `tls`).
 */
export function redisCommand(
  port: number,
  args: string[],
  timeoutMs = 1000,
  tlsOptions?: BrokerTls
): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0)
    const socket = tlsOptions ? connectTls(port, tlsOptions) : net.connect({ host: LOOPBACK, port })
    const finish = (err: Error | undefined, value?: string): void => {
      clearTimeout(timer)
      socket.destroy()
      if (err) reject(err)
      else resolve(value ?? '')
    }
    const timer = setTimeout(() => finish(new Error(`redis ${args[0]} on port ${port} timed out`)), timeoutMs)
    socket.once('error', (err) => finish(err))
    socket.once('close', () => finish(new Error(`redis on port ${port} closed the connection`)))
    socket.once(tlsOptions ? 'secureConnect' : 'connect', () => socket.write(encode(args)))
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      const reply = parseReply(received)
      if (reply === undefined) return
      if ('error' in reply) finish(new Error(`redis ${args[0]} on port ${port}: ${reply.error}`))
      else finish(undefined, reply.value)
    })
  })
}

/** TLS on `port`, plain TCP off. */
function tlsArgs(port: number, secure: BrokerTls): string[] {
  return [
    '--port',
    '0',
    '--tls-port',
    String(port),
    '--tls-cert-file',
    secure.certFile,
    '--tls-key-file',
    secure.keyFile,
    '--tls-ca-cert-file',
    secure.caFile,
    '--tls-auth-clients',
    secure.requireClientCert ? 'yes' : 'no'
  ]
}

/** Starts a private redis-server (no persistence) on 127.0.0.1 in a fresh temp dir. */
export async function startRedis(options: RedisOptions = {}): Promise<BrokerHandle> {
  const binary = ensureBinary('redis-server', 'redis-server')
  const build = async (): Promise<BrokerSpec> => {
    const port = options.port ?? (await freePort())
    const extra =
      typeof options.extraArgs === 'function' ? await options.extraArgs() : (options.extraArgs ?? [])
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `fanout-redis-${port}-`))
    const { tls: secure } = options
    const listen = secure ? tlsArgs(port, secure) : ['--port', String(port)]
    return {
      kind: 'redis',
      port,
      url: `${secure ? 'rediss' : 'redis'}://${LOOPBACK}:${port}`,
      dir,
      command: binary,
      // No config file on purpose: /etc/redis/redis.conf would daemonize and log elsewhere.
      args: [...listen, '--bind', LOOPBACK, '--save', '', '--appendonly', 'no', '--dir', dir, ...extra],
      probe: () =>
        redisCommand(port, ['PING'], 500, secure).then(
          (reply) => reply === 'PONG',
          () => false
        ),
      readyTimeoutMs: options.readyTimeoutMs ?? 10_000
    }
  }
  return launch(build, options.port === undefined ? 3 : 1)
}
