/**
 * What an upgraded websocket should stop holding on to. @fastify/websocket
 * (11.3) routes the upgrade request through Fastify with a ServerResponse
 * assigned to the TCP socket (so that a refusal can be answered over HTTP),
 * and guards the websocket with an 'error' listener that closes over the
 * request and reply. Both outlive the upgrade: the request, the reply, their
 * raw objects and a child logger stay reachable as long as the connection,
 * several kB per idle client. This drops both references once the socket is
 * ours; the caller attaches its own 'error' listener right after.
 */
import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'

export function forgetUpgradeRequest (socket: WebSocket): void {
  const raw = (socket as unknown as { _socket?: Socket & { _httpMessage?: { detachSocket (s: Socket): void } | null } })._socket
  raw?._httpMessage?.detachSocket(raw)
  socket.removeAllListeners('error')
}
