import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

export interface EnsureBinaryOptions {
  /**
   * Whether a missing binary may be installed with apt-get. Defaults to true unless the environment sets
   * FANOUT_NO_INSTALL=1. Installing also requires running as root on a machine that has apt-get.
   */
  install?: boolean
}

// sbin directories are often missing from a non-root PATH, yet Debian puts nats-server there.
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']
const APT_UPDATE_TIMEOUT_MS = 5 * 60_000
const APT_INSTALL_TIMEOUT_MS = 10 * 60_000

// Per-process memo: resolved binaries, packages already tried, and whether `apt-get update` ran.
const resolved = new Map<string, string>()
const attemptedPackages = new Set<string>()
let aptUpdated = false

function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}

/** Known paths come first on purpose: they name the exact file to run (e.g. RabbitMQ's unwrapped script). */
function findBinary(binary: string, knownPaths: string[]): string | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter((dir) => dir !== '')
  const candidates = [...knownPaths, ...[...dirs, ...EXTRA_DIRS].map((dir) => path.join(dir, binary))]
  return candidates.find((candidate) => path.isAbsolute(candidate) && isExecutableFile(candidate))
}

function runApt(args: string[], timeoutMs: number): void {
  // Lock timeout: parallel Jest workers may reach this point at the same time.
  const result = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=120', ...args], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024
  })
  if (result.status === 0) return
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n')
  const reason = result.error ? result.error.message : `exit status ${String(result.status ?? result.signal)}`
  throw new Error(`apt-get ${args.join(' ')} failed (${reason}):\n${output}`)
}

function missingError(binary: string, debianPackage: string, reason: string, output = ''): Error {
  const sudo = process.getuid?.() === 0 ? '' : 'sudo '
  return new Error(
    `The feathers-fanout tests need the "${binary}" binary (Debian package ${debianPackage}), which is not ` +
      `installed${reason}. To install it, run: ${sudo}apt-get install -y ${debianPackage}${output && `\n${output}`}`
  )
}

/**
 * Returns the absolute path of `binary`, installing `debianPackage` with apt-get when it is missing and
 * that is possible (root, apt-get present, install allowed). Throws an Error naming the exact
 * `apt-get install -y <package>` command otherwise.
 */
export function ensureBinary(
  binary: string,
  debianPackage: string,
  knownPaths: string[] = [],
  options: EnsureBinaryOptions = {}
): string {
  const cached = resolved.get(binary)
  if (cached !== undefined && isExecutableFile(cached)) return cached

  const found = findBinary(binary, knownPaths)
  if (found !== undefined) {
    resolved.set(binary, found)
    return found
  }

  const install = options.install ?? process.env.FANOUT_NO_INSTALL !== '1'
  if (!install) throw missingError(binary, debianPackage, ' (automatic installation is disabled)')
  if (process.getuid?.() !== 0) throw missingError(binary, debianPackage, ' (not root, so not installing it)')
  if (findBinary('apt-get', []) === undefined)
    throw missingError(binary, debianPackage, ' and apt-get is missing')
  if (attemptedPackages.has(debianPackage)) {
    throw missingError(binary, debianPackage, ' even after an earlier installation attempt in this process')
  }

  attemptedPackages.add(debianPackage)
  try {
    if (!aptUpdated) {
      runApt(['update'], APT_UPDATE_TIMEOUT_MS)
      aptUpdated = true
    }
    runApt(['install', '-y', '--no-install-recommends', debianPackage], APT_INSTALL_TIMEOUT_MS)
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    throw missingError(binary, debianPackage, ' and installing it failed', message)
  }

  const installed = findBinary(binary, knownPaths)
  if (installed === undefined)
    throw missingError(binary, debianPackage, ` even after installing ${debianPackage}`)
  resolved.set(binary, installed)
  return installed
}
