/**
 * Whether `host` reaches only this machine: 127.0.0.0/8, ::1 (also IPv4-mapped and bracketed) or
 * `localhost`. Plain-text transports are acceptable only there: the gateway's plain MQTT listens
 * only on such a host, and the EHR exporter warns about a plain-text EHR elsewhere.
 */
import { isIPv4 } from 'node:net';

export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice('::ffff:'.length) : h;
  return isIPv4(v4) && v4.startsWith('127.');
}
