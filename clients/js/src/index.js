/**
 * WireSocket browser client: what the stock `y-websocket` provider needs to talk to WireSocket's
 * API Gateway WebSocket API.
 *
 * API Gateway refuses binary frames, so every message travels as the standard, padded base64 of its
 * y-protocols bytes in a text frame, one message per frame, both ways. The only other frames the server
 * sends are JSON error frames `{"type":"error","code":4xxx,"reason":"…"}`, right before it closes the
 * connection (docs/websocket.md).
 *
 *   import { WebsocketProvider } from 'y-websocket'
 *   import { tokenWebSocket, shouldReconnect } from '@wiresocket/client'
 *   const provider = new WebsocketProvider(websocketUrl, documentName, ydoc, {
 *     WebSocketPolyfill: tokenWebSocket(() => currentAccessToken),
 *     shouldReconnect,
 *   })
 *
 * @module @wiresocket/client
 */

/** The subprotocol marker that precedes the token: `Sec-WebSocket-Protocol: access_token, <jwt>`. */
export const TOKEN_SUBPROTOCOL = 'access_token'

/** WireSocket's close codes (docs/websocket.md, public error reference). */
export const CloseCodes = Object.freeze({
  BAD_FRAME: 4000,
  MISSING_TOKEN: 4001,
  INVALID_TOKEN: 4002,
  FORBIDDEN: 4003,
  CONNECTION_LIMIT: 4004,
  DOCUMENT_LIMIT: 4005,
  RATE_LIMIT: 4006,
  INVALID_NAME: 4007,
  USERS_PER_DOC: 4008,
  WRONG_REGION: 4009
})

/** The prefix of a 4009 reason that carries the URL of the document's region. */
export const REDIRECT_PREFIX = 'REDIRECT:'

const CHUNK = 0x8000

/**
 * Standard, padded base64 (RFC 4648 §4) of some bytes.
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function encodeBase64 (bytes) {
  let binary = ''
  for (let i = 0; i < bytes.length; i += CHUNK) {
    binary += String.fromCharCode.apply(null, /** @type {any} */ (bytes.subarray(i, i + CHUNK)))
  }
  return btoa(binary)
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * The bytes of standard, padded base64; throws `TypeError` for anything else (whitespace, URL-safe
 * alphabet, missing padding), as strict as the server.
 * @param {string} text
 * @returns {Uint8Array}
 */
export function decodeBase64 (text) {
  if (!BASE64.test(text)) throw new TypeError('not standard padded base64')
  const binary = atob(text)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}

/**
 * A server error frame `{"type":"error","code":…,"reason":…}`, or null when `text` is not one.
 * @param {string} text
 * @returns {{code: number, reason: string} | null}
 */
export function parseErrorFrame (text) {
  if (!text.startsWith('{')) return null // base64 never starts with "{"
  let frame
  try {
    frame = JSON.parse(text)
  } catch {
    return null
  }
  if (frame === null || typeof frame !== 'object' || frame.type !== 'error') return null
  if (!Number.isInteger(frame.code)) return null
  return { code: frame.code, reason: typeof frame.reason === 'string' ? frame.reason : '' }
}

/**
 * True for close codes after which reconnecting with the same token and URL cannot help: the app has to
 * act first (get a new token, wait 30 s after 4006, follow a 4009 redirect, pick another document name).
 * Use it as y-websocket's `shouldReconnect` option (y-websocket then emits `closed` with code and reason).
 * @param {{code: number}} event
 * @returns {boolean}
 */
export function shouldReconnect (event) {
  return !(event.code >= CloseCodes.MISSING_TOKEN && event.code <= CloseCodes.WRONG_REGION)
}

/**
 * The URL of a 4009 close's reason (`REDIRECT:<url>`), or null.
 * @param {{code: number, reason: string}} event
 * @returns {string | null}
 */
export function redirectUrl (event) {
  if (event.code !== CloseCodes.WRONG_REGION || !event.reason.startsWith(REDIRECT_PREFIX)) return null
  return event.reason.slice(REDIRECT_PREFIX.length)
}

function makeEvent (type, fields) {
  const event = new Event(type)
  for (const [key, value] of Object.entries(fields)) {
    Object.defineProperty(event, key, { value, enumerable: true })
  }
  return event
}

function makeMessageEvent (data, origin) {
  if (typeof MessageEvent === 'function') return new MessageEvent('message', { data, origin })
  return makeEvent('message', { data, origin })
}

function makeCloseEvent (code, reason, wasClean) {
  if (typeof CloseEvent === 'function') return new CloseEvent('close', { code, reason, wasClean })
  return makeEvent('close', { code, reason, wasClean })
}

/**
 * A `WebSocket` that carries binary messages as base64 text frames: pass it (or `tokenWebSocket(...)`) as
 * y-websocket's `WebSocketPolyfill`.
 *
 * - `send(Uint8Array | ArrayBuffer | any ArrayBufferView)` sends one base64 text frame; strings and Blobs are
 *   refused (`TypeError`): the server only understands base64 y-protocols messages.
 * - A received base64 text frame is delivered as a `message` event whose `data` is an `ArrayBuffer`
 *   (or a `Blob` when `binaryType` is `"blob"`).
 * - A received error frame is kept as `lastError` (`{code, reason}`) and dispatched as a `servererror`
 *   event (`onservererror`) with `code` and `reason`; the `close` event that follows carries that code and
 *   reason instead of the transport's (the server closes right after the frame, and API Gateway cannot put
 *   a custom code on the close itself). `transportCode` keeps the code the transport reported.
 * - Frames that are neither are dropped and counted in `droppedFrames`.
 */
export class Base64WebSocket extends EventTarget {
  static CONNECTING = 0
  static OPEN = 1
  static CLOSING = 2
  static CLOSED = 3

  /**
   * The native WebSocket class used underneath (replaceable for tests and non-browser runtimes).
   * @type {typeof WebSocket}
   */
  static NativeWebSocket = globalThis.WebSocket

  /**
   * @param {string | URL} url
   * @param {string | string[]} [protocols]
   */
  constructor (url, protocols = []) {
    super()
    /** @type {{code: number, reason: string} | null} */
    this.lastError = null
    this.droppedFrames = 0
    this.onopen = null
    this.onmessage = null
    this.onclose = null
    this.onerror = null
    this.onservererror = null
    this._binaryType = 'blob'
    const Native = /** @type {any} */ (this.constructor).NativeWebSocket
    if (typeof Native !== 'function') throw new TypeError('no WebSocket implementation available')
    const socket = new Native(url, protocols)
    this._socket = socket
    socket.binaryType = 'arraybuffer'
    socket.onopen = () => this._emit(new Event('open'))
    socket.onerror = () => this._emit(new Event('error'))
    socket.onmessage = (event) => this._receive(event)
    socket.onclose = (event) => this._closed(event)
  }

  get CONNECTING () { return 0 }
  get OPEN () { return 1 }
  get CLOSING () { return 2 }
  get CLOSED () { return 3 }

  get readyState () { return this._socket.readyState }
  get protocol () { return this._socket.protocol }
  get extensions () { return this._socket.extensions }
  get url () { return this._socket.url }
  get bufferedAmount () { return this._socket.bufferedAmount }

  get binaryType () { return this._binaryType }
  set binaryType (value) {
    if (value === 'blob' || value === 'arraybuffer') this._binaryType = value
  }

  /**
   * Send one binary message as a base64 text frame.
   * @param {ArrayBuffer | ArrayBufferView} data
   */
  send (data) {
    let bytes
    if (data instanceof ArrayBuffer) {
      bytes = new Uint8Array(data)
    } else if (ArrayBuffer.isView(data)) {
      bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    } else {
      throw new TypeError('Base64WebSocket sends binary messages only (ArrayBuffer or a typed array)')
    }
    this._socket.send(encodeBase64(bytes))
  }

  /**
   * @param {number} [code]
   * @param {string} [reason]
   */
  close (code, reason) {
    if (code === undefined) this._socket.close()
    else this._socket.close(code, reason)
  }

  _emit (event) {
    this.dispatchEvent(event)
    const handler = this['on' + event.type]
    if (typeof handler === 'function') handler.call(this, event)
  }

  _receive (event) {
    const data = event.data
    if (typeof data !== 'string') {
      this.droppedFrames++ // the server never sends binary frames (API Gateway cannot)
      return
    }
    const error = parseErrorFrame(data)
    if (error !== null) {
      this.lastError = error
      this._emit(makeEvent('servererror', error))
      return
    }
    let bytes
    try {
      bytes = decodeBase64(data)
    } catch {
      this.droppedFrames++
      return
    }
    const payload = this._binaryType === 'blob' && typeof Blob === 'function'
      ? new Blob([bytes])
      : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
    this._emit(makeMessageEvent(payload, event.origin))
  }

  _closed (event) {
    const error = this.lastError
    const closeEvent = makeCloseEvent(
      error !== null ? error.code : event.code,
      error !== null ? error.reason : event.reason,
      event.wasClean
    )
    Object.defineProperty(closeEvent, 'transportCode', { value: event.code, enumerable: true })
    this._emit(closeEvent)
  }
}

/**
 * A `Base64WebSocket` class that offers the access token as subprotocol (`["access_token", token]`, the
 * server selects `access_token`), for y-websocket's `WebSocketPolyfill`. `token` may be a function: it is
 * called on every (re)connect, so a refreshed token is used after a reconnect.
 *
 * (y-websocket's own `protocols` option works too: `{ protocols: ['access_token', token],
 * WebSocketPolyfill: Base64WebSocket }`, but keeps the token it was given.)
 *
 * @param {string | (() => string)} token
 * @param {typeof Base64WebSocket} [Base]
 * @returns {typeof Base64WebSocket}
 */
export function tokenWebSocket (token, Base = Base64WebSocket) {
  const current = typeof token === 'function' ? token : () => token
  return class TokenWebSocket extends Base {
    constructor (url, protocols = []) {
      const jwt = current()
      if (typeof jwt !== 'string' || jwt === '') throw new TypeError('no access token')
      const extra = typeof protocols === 'string' ? [protocols] : Array.from(protocols)
      super(url, [TOKEN_SUBPROTOCOL, jwt, ...extra])
    }
  }
}

/**
 * The server relays awareness but does not answer y-websocket's "query awareness", so a client that joins
 * sees the others only when they next renew their state (up to 15 s). This makes every client re-announce
 * its own state as soon as it sees a new peer, so presence shows up at once. Returns a function that undoes it.
 * @param {import('y-protocols/awareness').Awareness} awareness
 * @returns {() => void}
 */
export function announceToNewPeers (awareness) {
  const onChange = ({ added }, origin) => {
    if (origin === 'local') return
    const peers = added.filter((client) => client !== awareness.clientID)
    const own = awareness.getLocalState()
    if (peers.length > 0 && own !== null) awareness.setLocalState(own) // bumps the clock: broadcast
  }
  awareness.on('change', onChange)
  return () => awareness.off('change', onChange)
}
