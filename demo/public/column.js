// One instance's column on the dashboard: its own socket.io connection to the instance, the status,
// counters and outbox of each `demo:tick`, the latency plot, and the events as they reach it.
/* global io, drawPlot, PLOT_WINDOW_MS */
/* exported Column */

const KEEP_EVENTS = 60
const COUNTERS = ['published', 'received', 'delivered', 'dropped', 'publishErrors', 'reconnects', 'gaps']

class Column {
  constructor(instance, container) {
    this.instance = instance
    this.url = undefined
    this.socket = undefined
    this.samples = []
    this.offline = []
    this.state = 'starting'
    this.syncStatus = undefined
    this.element = document.getElementById('column-template').content.firstElementChild.cloneNode(true)
    this.element.dataset.instance = String(instance)
    this.find('.n').textContent = String(instance)
    this.find('.kill').addEventListener('click', () => this.kill())
    this.find('.events').dataset.instance = String(instance)
    const after = [...container.children].find((other) => Number(other.dataset.instance) > instance)
    container.insertBefore(this.element, after ?? null)
  }

  find(selector) {
    return this.element.querySelector(selector)
  }

  /** The fleet's view of this instance changed (from the primary's event stream). */
  setMember(member) {
    this.state = member.state
    this.find('.pid').textContent = member.pid ? String(member.pid) : '–'
    this.find('.replaced').textContent = member.replaced > 0 ? ` · replaced ${member.replaced}×` : ''
    if (member.state === 'ready' && member.url) this.connect(member.url)
    if (member.state !== 'ready') this.goOffline()
    this.showStatus()
  }

  connect(url) {
    if (url === this.url && this.socket) {
      if (!this.socket.connected) this.socket.connect()
      return
    }
    this.socket?.close()
    this.url = url
    const link = this.find('.url')
    link.href = url
    link.textContent = url.replace(/^https?:\/\//, '')
    const socket = io(url, { transports: ['websocket'], reconnectionDelayMax: 1000 })
    this.socket = socket
    socket.on('connect', () => {
      this.comeBack()
      socket.emit('demo:history', null, (reply) => reply.ok && this.showHistory(reply.result))
    })
    socket.on('disconnect', () => this.goOffline())
    socket.on('demo:tick', (tick) => this.onTick(tick))
  }

  goOffline() {
    const last = this.offline[this.offline.length - 1]
    if (!last || last[1] !== undefined) this.offline.push([Date.now(), undefined])
    this.syncStatus = undefined
    this.showStatus()
  }

  comeBack() {
    const last = this.offline[this.offline.length - 1]
    if (last && last[1] === undefined) last[1] = Date.now()
    this.showStatus()
  }

  /** ready · reconnecting (the broker is away) · offline (no connection to the instance) · starting */
  showStatus() {
    const connected = this.socket?.connected === true
    const status = !connected
      ? this.state === 'ready'
        ? 'offline'
        : this.state
      : (this.syncStatus ?? 'connecting')
    const badge = this.find('.status')
    badge.textContent = status
    badge.dataset.status = status
  }

  onTick(tick) {
    const { info, stats, status, latency } = tick
    this.syncStatus = status
    this.showStatus()
    this.find('.adapter').textContent = info.adapter
    this.find('.key').textContent = info.key
    this.find('.pid').textContent = String(info.pid)
    // A broker that hands an instance its own messages back (Redis, NATS) makes ownEcho count one per
    // publish: routine, so it is listed in the tooltip but not added to what the column calls dropped.
    const dropped = Object.entries(stats.dropped).filter(([, n]) => n > 0)
    const counted = dropped.filter(([reason]) => reason !== 'ownEcho').reduce((sum, [, n]) => sum + n, 0)
    const values = { ...stats, dropped: counted, gaps: stats.gaps.reported }
    for (const name of COUNTERS)
      this.find(`[data-counter=${name}]`).textContent = values[name].toLocaleString()
    this.find('[data-counter=dropped]').title = dropped
      .map(
        ([reason, n]) => `${reason}: ${n}${reason === 'ownEcho' ? ' (own messages back, not counted)' : ''}`
      )
      .join('\n')
    const fill = Math.min(100, (stats.outbox.messages / tick.outboxMax) * 100)
    this.find('.fill').style.width = `${stats.outbox.messages > 0 ? Math.max(fill, 1) : 0}%`
    this.find('.outbox-text').textContent =
      `${stats.outbox.messages.toLocaleString()} / ${tick.outboxMax.toLocaleString()} messages, ${(stats.outbox.bytes / 1024).toFixed(1)} kB`
    const text =
      latency.count > 0
        ? `p50 ${latency.p50} ms · p99 ${latency.p99} ms · ${latency.count} remote`
        : 'no remote events'
    this.find('.latency').textContent = text
    this.samples.push({ ...latency, status, outbox: stats.outbox.messages })
    while (this.samples.length > 0 && this.samples[0].at < Date.now() - PLOT_WINDOW_MS) this.samples.shift()
    if (tick.skipped > 0) this.showEvent({ skipped: tick.skipped })
    for (const arrival of tick.arrivals) this.showEvent(arrival)
  }

  showHistory(arrivals) {
    const list = this.find('.events')
    if (arrivals.length === 0 && list.children.length > 0) {
      this.showEvent({ note: 'a new instance took over: it saw none of the events above' })
      return
    }
    list.replaceChildren()
    for (const arrival of arrivals) this.showEvent(arrival)
  }

  showEvent(arrival) {
    const item = document.createElement('li')
    if (arrival.note || arrival.skipped) {
      item.className = 'note'
      item.textContent = arrival.note ?? `… ${arrival.skipped} more events in this half second`
    } else {
      item.className = arrival.local ? 'local' : 'remote'
      const text = document.createElement('span')
      text.className = 'text'
      text.textContent = arrival.text
      const meta = document.createElement('span')
      meta.className = 'meta'
      meta.textContent = arrival.local
        ? 'local'
        : `from #${arrival.from} · ${arrival.latencyMs.toFixed(1)} ms`
      item.append(text, meta)
    }
    const list = this.find('.events')
    list.prepend(item)
    while (list.children.length > KEEP_EVENTS) list.lastChild.remove()
  }

  draw(now) {
    drawPlot(
      this.find('.plot'),
      this.samples,
      this.offline.filter(([, to]) => to === undefined || to > now - PLOT_WINDOW_MS),
      now
    )
  }

  /** Asks the instance to run a control (demo/controls.ts); resolves with its reply. */
  ask(name, argument) {
    return new Promise((resolve) => {
      if (!this.socket?.connected)
        return resolve({ ok: false, error: `instance ${this.instance} is not connected` })
      this.socket
        .timeout(60_000)
        .emit(`demo:${name}`, argument, (error, reply) =>
          resolve(error ? { ok: false, error: error.message } : reply)
        )
    })
  }

  async kill() {
    const response = await fetch(`/api/instances/${this.instance}/kill`, { method: 'POST' })
    if (!response.ok) document.getElementById('notice').textContent = (await response.json()).error
  }
}
