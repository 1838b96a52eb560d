/**
 * The address of the workstation behind a request, for the audit trail and the log. Behind a
 * TLS-terminating reverse proxy (docker-compose.yml publishes the API on loopback for one) every
 * connection comes from the proxy, and the trail would name the proxy for every access. With
 * PULSEBRIDGE_TRUSTED_PROXIES, the `X-Forwarded-For` header of a request whose connection comes
 * from a listed proxy is read right to left, skipping listed proxies; the first other hop is the
 * client. From anywhere else the connection's address stands and the header is ignored: anyone can
 * write one.
 */
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) → `10.0.0.1`. */
export function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address.toLowerCase();
}

export function clientAddress(req: Pick<IncomingMessage, 'socket' | 'headers'>, trustedProxies: ReadonlySet<string>): string | undefined {
  const peer = req.socket.remoteAddress;
  if (peer === undefined || trustedProxies.size === 0 || !trustedProxies.has(normalizeAddress(peer))) return peer;
  const header = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : header ?? '').split(',').map((h) => h.trim()).filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeAddress(hops[i]!);
    // A hop that is not an address (a proxy that writes names or "unknown") ends what can be believed.
    if (isIP(hop) === 0) return peer;
    if (!trustedProxies.has(hop)) return hop;
  }
  return peer;
}
