/**
 * A server-to-client websocket text frame, built in one buffer (RFC 6455 §5.2:
 * FIN, opcode 1, no mask, 7/16/64-bit length). The connection writes it
 * straight to its corked TCP socket: one chunk per frame instead of `ws`'s
 * header and payload, and none of its per-send bookkeeping. Only for
 * connections without permessage-deflate, whose frames `ws` never queues.
 * The last frame built is kept: a room message delivered to every local
 * member is encoded once and the same bytes go to each socket.
 */
export function textFrame (payload: string): Buffer {
  const length = Buffer.byteLength(payload)
  const head = length < 126 ? 2 : length < 65_536 ? 4 : 10
  const frame = Buffer.allocUnsafe(head + length)
  frame[0] = 0x81
  if (head === 2) {
    frame[1] = length
  } else if (head === 4) {
    frame[1] = 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 127
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2)
    frame.writeUInt32BE(length >>> 0, 6)
  }
  frame.write(payload, head, 'utf8')
  return frame
}

let lastPayload: string | undefined
let lastFrame: Buffer | undefined

/** textFrame(payload), reusing the previous call's buffer when the payload is the same string (a fan-out). */
export function sharedTextFrame (payload: string): Buffer {
  if (payload !== lastPayload || lastFrame === undefined) {
    lastFrame = textFrame(payload)
    lastPayload = payload
  }
  return lastFrame
}
