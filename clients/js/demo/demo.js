// The local stack's demo page (`wiresocket local` → http://localhost:5173/demo): a shared text editor on
// Yjs with presence, through the stock y-websocket provider and the WireSocket base64 wrapper. The token
// comes from the stack's demo token broker (POST /demo/token), which does client_credentials server-side:
// this page never holds a client secret.

import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { CloseCodes, announceToNewPeers, redirectUrl, shouldReconnect, tokenWebSocket } from '../src/index.js'

const LOCAL = Symbol('local edit')
const REFRESH_MARGIN_SECONDS = 60
const RATE_LIMIT_WAIT_MS = 30_000
const COLORS = ['#d9480f', '#2b8a3e', '#1971c2', '#9c36b5', '#e67700', '#0c8599', '#c2255c', '#5f3dc4']

const params = new URLSearchParams(window.location.search)
const statusEl = document.getElementById('status')
const editor = /** @type {HTMLTextAreaElement} */ (document.getElementById('editor'))
const usersEl = document.getElementById('users')

function setStatus (state, text = state) {
  statusEl.dataset.state = state
  statusEl.textContent = text
}

async function fetchToken (document) {
  const response = await fetch('/demo/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ document }),
    cache: 'no-store'
  })
  const body = await response.json().catch(() => ({}))
  if (!response.ok) throw new Error(body.error || `token broker answered ${response.status}`)
  return body
}

// --- textarea <-> Y.Text -----------------------------------------------------------------------------

function applyLocalChange (ydoc, ytext, before, after) {
  let start = 0
  const shortest = Math.min(before.length, after.length)
  while (start < shortest && before[start] === after[start]) start++
  let endBefore = before.length
  let endAfter = after.length
  while (endBefore > start && endAfter > start && before[endBefore - 1] === after[endAfter - 1]) {
    endBefore--
    endAfter--
  }
  ydoc.transact(() => {
    if (endBefore > start) ytext.delete(start, endBefore - start)
    if (endAfter > start) ytext.insert(start, after.slice(start, endAfter))
  }, LOCAL)
}

function mapPosition (position, delta) {
  let index = 0
  let mapped = position
  for (const op of delta) {
    if (index > position) break
    if (op.retain !== undefined) {
      index += op.retain
    } else if (op.insert !== undefined) {
      mapped += op.insert.length // inserted before the cursor (delta indexes are in the old text)
    } else if (op.delete !== undefined) {
      mapped -= Math.min(op.delete, position - index)
      index += op.delete
    }
  }
  return mapped
}

function bindTextarea (ydoc, ytext) {
  let shown = ytext.toString()
  editor.value = shown
  editor.addEventListener('input', () => {
    applyLocalChange(ydoc, ytext, shown, editor.value)
    shown = editor.value
  })
  ytext.observe((event, transaction) => {
    if (transaction.origin === LOCAL) return
    const focused = document.activeElement === editor
    const start = mapPosition(editor.selectionStart, event.delta)
    const end = mapPosition(editor.selectionEnd, event.delta)
    shown = ytext.toString()
    editor.value = shown
    if (focused) editor.setSelectionRange(start, end)
  })
}

// --- presence ------------------------------------------------------------------------------------------

function renderUsers (awareness) {
  const items = []
  for (const [clientId, state] of awareness.getStates()) {
    if (!state || !state.user) continue
    const li = document.createElement('li')
    li.textContent = state.user.name
    li.style.background = state.user.color
    li.dataset.clientId = String(clientId)
    if (clientId === awareness.clientID) li.className = 'me'
    items.push(li)
  }
  usersEl.replaceChildren(...items)
}

// --- main ------------------------------------------------------------------------------------------------

async function main () {
  const requested = params.get('doc') || 'demo'
  setStatus('token', 'getting a token')
  let grant = await fetchToken(requested)
  document.getElementById('document').textContent = grant.document

  const ydoc = new Y.Doc()
  const ytext = ydoc.getText('text')
  const user = {
    name: params.get('name') || `Guest ${Math.floor(100 + Math.random() * 900)}`,
    color: COLORS[Math.floor(Math.random() * COLORS.length)]
  }

  const provider = new WebsocketProvider(grant.websocket_url, grant.document, ydoc, {
    WebSocketPolyfill: tokenWebSocket(() => grant.access_token),
    shouldReconnect,
    disableBc: true // every change goes through the server, also between tabs of this browser
  })
  const awareness = provider.awareness
  awareness.setLocalStateField('user', user)
  announceToNewPeers(awareness)
  awareness.on('change', () => renderUsers(awareness))
  renderUsers(awareness)
  bindTextarea(ydoc, ytext)

  const refresh = async () => {
    try {
      grant = await fetchToken(grant.document)
    } catch (error) {
      setStatus('error', `token refresh failed: ${error.message}`)
    }
    return grant
  }
  const scheduleRefresh = () => {
    const seconds = Math.max(10, grant.expires_in - REFRESH_MARGIN_SECONDS)
    setTimeout(() => refresh().then(scheduleRefresh), seconds * 1000)
  }
  scheduleRefresh()

  provider.on('status', ({ status }) => {
    if (status !== 'connected' || !provider.synced) setStatus(status)
  })
  provider.on('sync', (synced) => {
    if (synced) {
      setStatus('synced')
      editor.disabled = false
      editor.placeholder = 'Type here; other tabs see it live.'
    }
  })
  provider.on('closed', ({ code, reason }) => {
    // A WireSocket close code (4001-4009): the provider stopped reconnecting; decide here.
    setStatus('closed', `closed ${code}: ${reason}`)
    editor.disabled = true
    if (code === CloseCodes.INVALID_TOKEN) {
      refresh().then(() => provider.connect())
    } else if (code === CloseCodes.RATE_LIMIT) {
      setTimeout(() => provider.connect(), RATE_LIMIT_WAIT_MS)
    } else if (redirectUrl({ code, reason }) !== null) {
      setStatus('closed', `document lives in another region: ${redirectUrl({ code, reason })}`)
    }
  })

  // Leaving the page: disconnect() tells the others first (awareness state null), so presence updates at
  // once instead of after the 30 s awareness timeout. Back from the bfcache: connect again.
  window.addEventListener('pagehide', () => provider.disconnect())
  window.addEventListener('pageshow', (event) => { if (event.persisted) provider.connect() })

  window.wiresocketDemo = { ydoc, ytext, provider, awareness, user }
}

main().catch((error) => {
  setStatus('error', `cannot start: ${error.message}`)
})
