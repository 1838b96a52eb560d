/**
 * Bounds connections that are not yet an authenticated device (issue 13 item 3, connection
 * floods). Every accepted TCP connection costs a TLS handshake (CPU) and buffers until its MQTT
 * CONNECT is authenticated; a flood of such connections from one address must not starve the
 * devices of others. A connection is *pending* from TCP accept until authenticate() accepted
 * its device, or until it closes. Over `maxPendingPerIp` pending connections from one address,
 * or `maxPending` in all, a new connection is closed at once, before any handshake work.
 *
 * Time bounds are the servers': the TLS handshake must finish within `handshakeTimeout`
 * (gateway.ts) and the MQTT CONNECT must arrive within aedes's `connectTimeout`.
 *
 * Devices reach the gateway from many addresses (home networks); one load generator may open
 * many at once, hence per-address limits in the hundreds rather than a handful.
 */
import type net from 'node:net';

export interface ConnectionGateOptions {
  /** Default 256. */
  maxPendingPerIp: number;
  /** Default 2048. */
  maxPending: number;
}

export const DEFAULT_CONNECTION_GATE: ConnectionGateOptions = { maxPendingPerIp: 256, maxPending: 2048 };

const keyOf = (address: string | undefined, port: number | undefined) => `${address ?? '?'}|${port ?? '?'}`;

export class ConnectionGate {
  readonly #options: ConnectionGateOptions;
  /** Pending connections by `address|port`. */
  readonly #pending = new Map<string, { ip: string; socket: net.Socket }>();
  readonly #pendingByIp = new Map<string, number>();

  constructor(options: Partial<ConnectionGateOptions> = {}) {
    this.#options = { ...DEFAULT_CONNECTION_GATE, ...options };
  }

  get pending(): number { return this.#pending.size; }

  /** A new TCP connection. False: over a limit, the caller closes it. */
  admit(socket: net.Socket): boolean {
    const ip = socket.remoteAddress ?? '?';
    const fromIp = this.#pendingByIp.get(ip) ?? 0;
    if (fromIp >= this.#options.maxPendingPerIp || this.#pending.size >= this.#options.maxPending) return false;
    const key = keyOf(ip, socket.remotePort);
    this.#pending.set(key, { ip, socket });
    this.#pendingByIp.set(ip, fromIp + 1);
    // Only this socket's own entry (a later connection may reuse the address and port).
    socket.once('close', () => { if (this.#pending.get(key)?.socket === socket) this.#settle(key); });
    return true;
  }

  /** The connection (TLS or TCP socket of the same peer) is an authenticated device now. */
  authenticated(socket: net.Socket): void {
    this.#settle(keyOf(socket.remoteAddress, socket.remotePort));
  }

  #settle(key: string): void {
    const ip = this.#pending.get(key)?.ip;
    if (ip === undefined) return;
    this.#pending.delete(key);
    const left = (this.#pendingByIp.get(ip) ?? 1) - 1;
    if (left <= 0) this.#pendingByIp.delete(ip);
    else this.#pendingByIp.set(ip, left);
  }
}
