/**
 * The connection state in the header: connecting, live, reconnecting with
 * a countdown to the next attempt. Which socket server is in use is kept in
 * `data-server` for tests and tools, not shown: chat users need not know. The state
 * word sits in an aria-live region; the countdown ticks beside it, hidden
 * from screen readers so they are not read a number every second.
 */
import type { ConnectionState } from '../../sdk/index.js'

export class ConnectionStatus {
  readonly #box: HTMLElement
  readonly #text: HTMLElement
  readonly #countdown: HTMLElement
  #timer: ReturnType<typeof setInterval> | undefined

  constructor (box: HTMLElement) {
    this.#box = box
    this.#text = box.querySelector('[role="status"]') as HTMLElement
    this.#countdown = box.querySelector('.countdown') as HTMLElement
  }

  show (state: ConnectionState | 'offline', detail: { user?: string, server?: string, delayMs?: number, reason?: string } = {}): void {
    this.#stopCountdown()
    this.#box.dataset.state = state
    this.#box.dataset.server = detail.server ?? ''
    this.#box.title = detail.reason ?? ''
    switch (state) {
      case 'connected':
        this.#text.textContent = `Live as ${detail.user ?? ''}`
        this.#countdown.textContent = ''
        break
      case 'reconnecting':
        this.#text.textContent = 'Reconnecting'
        this.#startCountdown(Date.now() + (detail.delayMs ?? 0))
        break
      case 'connecting':
        this.#text.textContent = 'Connecting'
        this.#countdown.textContent = '…'
        break
      case 'closed':
        this.#text.textContent = 'Disconnected'
        this.#countdown.textContent = ''
        break
      default:
        this.#text.textContent = 'Offline'
        this.#countdown.textContent = ''
    }
  }

  #startCountdown (at: number): void {
    const tick = (): void => {
      const seconds = Math.ceil((at - Date.now()) / 1000)
      this.#countdown.textContent = seconds > 0 ? `in ${seconds} s` : 'now…'
      if (seconds <= 0) this.#stopCountdown()
    }
    tick()
    this.#timer = setInterval(tick, 250)
  }

  #stopCountdown (): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
  }
}
