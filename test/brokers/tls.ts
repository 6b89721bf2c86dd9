import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ensureBinary } from './install'

/** What a broker needs to serve TLS. Paths to PEM files. */
export interface BrokerTls {
  /** The server's certificate. */
  certFile: string
  keyFile: string
  /** CA that signs the client certificates the broker accepts. */
  caFile: string
  /** Refuse clients without a certificate signed by `caFile`. @default false */
  requireClientCert?: boolean
}

/** A PEM certificate with its key, as files and as text. */
export interface CertificatePair {
  certFile: string
  keyFile: string
  cert: string
  key: string
}

/**
 * Certificates made for one test run: a CA, a server certificate for 127.0.0.1 and localhost and a client
 * certificate, both signed by that CA, and a second CA that signed nothing here (the "wrong" one).
 */
export interface TestPki {
  readonly dir: string
  readonly caFile: string
  /** PEM of the CA that signed `server` and `client`. */
  readonly ca: string
  readonly otherCaFile: string
  /** PEM of an unrelated CA. */
  readonly otherCa: string
  /** Also valid for client authentication, so that a harness probe can present it. */
  readonly server: CertificatePair
  readonly client: CertificatePair
  /** The broker-side TLS settings for `server`. */
  brokerTls(requireClientCert?: boolean): BrokerTls
  /** Deletes the files. */
  remove(): void
}

const DAYS = '2'
// P-256 keys: generated in milliseconds, and every broker here (OpenSSL, Go, Erlang) accepts them.
const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

function run(openssl: string, dir: string, args: string[]): void {
  execFileSync(openssl, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 })
}

function makeCa(openssl: string, dir: string, name: string, cn: string): void {
  run(openssl, dir, [
    'req',
    '-x509',
    ...KEY,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    DAYS,
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign'
  ])
}

function makeLeaf(openssl: string, dir: string, name: string, cn: string, extensions: string[]): void {
  run(openssl, dir, ['req', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`])
  fs.writeFileSync(path.join(dir, `${name}.ext`), `${extensions.join('\n')}\n`)
  run(openssl, dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-set_serial',
    `0x1${randomBytes(8).toString('hex')}`,
    '-days',
    DAYS,
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.pem`
  ])
}

/** Creates a fresh test PKI with openssl in a temp dir; `remove()` deletes it. */
export function createTestPki(): TestPki {
  const openssl = ensureBinary('openssl', 'openssl')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-pki-'))
  try {
    makeCa(openssl, dir, 'ca', 'feathers-fanout test CA')
    makeCa(openssl, dir, 'other-ca', 'an unrelated CA')
    const leaf = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment']
    makeLeaf(openssl, dir, 'server', 'localhost', [
      ...leaf,
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'extendedKeyUsage=serverAuth,clientAuth'
    ])
    makeLeaf(openssl, dir, 'client', 'feathers-fanout test client', [...leaf, 'extendedKeyUsage=clientAuth'])
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true })
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? ''
    throw new Error(
      `Could not create the test certificates with openssl: ${(error as Error).message}\n${stderr}`
    )
  }
  const file = (name: string) => path.join(dir, name)
  const read = (name: string) => fs.readFileSync(file(name), 'utf8')
  const pair = (name: string): CertificatePair => ({
    certFile: file(`${name}.pem`),
    keyFile: file(`${name}.key`),
    cert: read(`${name}.pem`),
    key: read(`${name}.key`)
  })
  return {
    dir,
    caFile: file('ca.pem'),
    ca: read('ca.pem'),
    otherCaFile: file('other-ca.pem'),
    otherCa: read('other-ca.pem'),
    server: pair('server'),
    client: pair('client'),
    brokerTls: (requireClientCert = false) => ({
      certFile: file('server.pem'),
      keyFile: file('server.key'),
      caFile: file('ca.pem'),
      requireClientCert
    }),
    remove: () => fs.rmSync(dir, { recursive: true, force: true })
  }
}
