/**
 * When the demo must stop: Ctrl-C, a `kill` of the primary, or the end of any process that launched
 * it. `npm run demo` runs npm, then a shell, then tsx, then this primary, all in the terminal's process
 * group; a `kill` of npm or of the shell does not always travel down to here, so the primary also
 * watches those ancestors and stops everything it started as soon as one of them is gone.
 */
import fs from 'node:fs'

const WATCH_MS = 250
const MAX_ANCESTORS = 16

interface Stat {
  ppid: number
  pgrp: number
}

function stat(pid: number): Stat | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    const [state, ppid, pgrp] = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return state === 'Z' ? undefined : { ppid: Number(ppid), pgrp: Number(pgrp) }
  } catch {
    return undefined
  }
}

/**
 * The processes that launched this one within its process group (npm, the shell, tsx), nearest
 * first. Empty where /proc is not available: then only the parent is watched.
 */
export function launchers(): number[] {
  const own = stat(process.pid)
  if (!own) return []
  const chain: number[] = []
  for (let pid = own.ppid; chain.length < MAX_ANCESTORS && pid > 1;) {
    const info = stat(pid)
    if (!info || info.pgrp !== own.pgrp) break
    chain.push(pid)
    pid = info.ppid
  }
  return chain
}

/**
 * Calls `onStop` once, with the reason, on SIGINT, SIGTERM or SIGHUP, or when a launcher exits.
 * @returns a function that stops listening
 */
export function whenToStop(onStop: (reason: string) => void): () => void {
  const parent = process.ppid
  const watched = launchers()
  let done = false
  const finish = (reason: string) => {
    if (done) return
    done = true
    dispose()
    onStop(reason)
  }
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((signal) => {
    const handler = () => finish(signal)
    process.on(signal, handler)
    return [signal, handler] as const
  })
  const timer = setInterval(() => {
    const gone = watched.find((pid) => stat(pid) === undefined)
    if (gone !== undefined) finish(`launcher pid ${gone} exited`)
    else if (process.ppid !== parent) finish(`parent pid ${parent} exited`)
  }, WATCH_MS)
  timer.unref()
  const dispose = () => {
    clearInterval(timer)
    for (const [signal, handler] of handlers) process.off(signal, handler)
  }
  return dispose
}
