/**
 * The gateway's TLS settings, written down rather than inherited from Node's defaults
 * (issue 13 item 4; device-protocol.md "Connection and identity": MQTT over TLS 1.2+).
 *
 * - Minimum version TLS 1.2: TLS 1.0/1.1 are deprecated (RFC 8996) and refused in the handshake.
 * - TLS 1.2 cipher suites: forward-secret (ECDHE/DHE) AEAD suites only, the "intermediate"
 *   list of Mozilla's Server Side TLS guidelines (v5.7); no CBC, no static RSA key exchange, no
 *   SHA-1 MACs. TLS 1.3 suites (all AEAD) are listed too, since Node's `ciphers` covers both.
 * - The server's order wins (`honorCipherOrder`), so a client cannot pick the weakest suite.
 *
 * test/gateway/tls-settings.int.test.ts connects with a TLS 1.1 client and a CBC-only TLS 1.2
 * client (both must fail) and with TLS 1.2 and 1.3 clients (both must succeed).
 */
import type tls from 'node:tls';

export const GATEWAY_TLS_MIN_VERSION: tls.SecureVersion = 'TLSv1.2';

export const GATEWAY_TLS_CIPHERS = [
  // TLS 1.3
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  // TLS 1.2
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-CHACHA20-POLY1305',
].join(':');

export const GATEWAY_TLS_SETTINGS = {
  minVersion: GATEWAY_TLS_MIN_VERSION,
  ciphers: GATEWAY_TLS_CIPHERS,
  honorCipherOrder: true,
} as const satisfies tls.TlsOptions;
