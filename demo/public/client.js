// The client page: one Feathers client on socket.io with feathers-fanout's recovery plugin, from
// /client-bundle.js (demo/client-bundle.ts). "Go offline" disconnects its socket; "Back online"
// reconnects it to the chosen instance. Events that arrive between the reconnect and the server's
// replay answer are the ones it missed: they are marked "recovered", the rest "live".
/* global FanoutClient */

const $ = (id) => document.getElementById(id)
const { feathers, socketioClient, io, recovery } = FanoutClient
const MAX_SHOWN = 2000
const urls = new Map()
let socket
let app
let recovering = false
let offlineSince
const counts = { live: 0, recovered: 0 }

function setStatus(text) {
  $('status').textContent = text
  $('status').dataset.state = text
}

function show(message, how) {
  counts[how]++
  $(how).textContent = String(counts[how])
  const item = document.createElement('li')
  item.className = how
  item.dataset.text = message.text
  item.textContent = `${message.text} · ${how} · from #${message.instance}`
  $('events').append(item)
  while ($('events').children.length > MAX_SHOWN) $('events').firstElementChild.remove()
}

function connect(url) {
  socket = io(url, { transports: ['websocket'], reconnectionDelayMax: 1000 })
  app = feathers().configure(socketioClient(socket)).configure(recovery())
  app.service('messages').on('created', (message) => show(message, recovering ? 'recovered' : 'live'))
  socket.on('connect', () => {
    recovering = true
    setStatus('recovering')
  })
  socket.on('disconnect', () => setStatus(socket.active ? 'reconnecting' : 'offline'))
  app.on('recovered', (answer) => {
    recovering = false
    setStatus('live')
    if (offlineSince !== undefined) {
      const seconds = ((Date.now() - offlineSince) / 1000).toFixed(1)
      $('outage').textContent = `${seconds} s, ${answer.replayed} events recovered`
      offlineSince = undefined
    }
  })
  app.on('recovery-gap', (gap) => {
    $('gap').hidden = false
    $('gap').textContent = `Gap (${gap.reason}): ${gap.message}. A real page would refetch now.`
  })
  app.on('recovery-error', (error) => ($('notice').textContent = `recovery: ${error.message}`))
}

function where(url) {
  const instance = [...urls].find(([, each]) => each === url)?.[0]
  $('where').textContent = `on instance ${instance ?? '?'} (${url})`
}

$('offline').addEventListener('click', () => {
  socket.disconnect()
  offlineSince = Date.now()
  $('gap').hidden = true
  $('online').disabled = false
  $('offline').disabled = true
})

$('online').addEventListener('click', () => {
  const url = urls.get(Number($('via').value))
  if (!url) return
  // The same socket (and plugin) to the chosen instance, as behind a load balancer.
  socket.io.uri = url
  socket.connect()
  where(url)
  $('online').disabled = true
  $('offline').disabled = false
})

const fleet = new EventSource('/api/fleet')
fleet.onmessage = (event) => {
  const view = JSON.parse(event.data)
  if (!view.recovery) {
    setStatus('off')
    $('notice').textContent = 'Client recovery is off: start the demo with --recovery and a broker.'
    return
  }
  for (const member of view.instances) {
    if (!member.url) continue
    if (!urls.has(member.instance)) {
      const option = document.createElement('option')
      option.value = String(member.instance)
      option.textContent = `instance ${member.instance}`
      $('via').append(option)
    }
    urls.set(member.instance, member.url)
  }
  if (!socket && urls.size > 0) {
    const [first] = [...urls.keys()].sort((a, b) => a - b)
    connect(urls.get(first))
    where(urls.get(first))
  }
}
