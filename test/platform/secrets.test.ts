/**
 * No secret ever committed (issue 13 item 4; house rule "keys generated at test time"): every
 * file git tracks is scanned for private keys (PEM of any kind, OpenSSH, a private JWK such as
 * the development issuer's key file) and bearer tokens signed by anyone; the data folder, where
 * the development PKI and token key live, is ignored. And the logger redacts tokens from every
 * line it writes, whatever string carried them.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger, redactSecrets } from '../../platform/log.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
// Built from parts so this file does not match itself.
const DASHES = '-'.repeat(5);
/** A PEM private key with its body (a header alone, as in code that writes keys at run time, is not a key). */
const PEM_PRIVATE = new RegExp(`${DASHES}BEGIN ((RSA|EC|DSA|ENCRYPTED|OPENSSH) )?PRIVATE KEY${DASHES}\\s*(\\r?\\n[A-Za-z0-9+/=:, -]*)*?[A-Za-z0-9+/=]{60,}`);
/** A JWK with a private part: "d" next to "kty"/"crv" in one object. */
const PRIVATE_JWK = /\{[^{}]*"kty"\s*:\s*"(EC|RSA|OKP)"[^{}]*"d"\s*:\s*"[A-Za-z0-9_-]{20,}"[^{}]*\}|\{[^{}]*"d"\s*:\s*"[A-Za-z0-9_-]{20,}"[^{}]*"kty"\s*:/;
/** A signed JWT (header.payload.signature, base64url, header starting with {"alg"…). */
const JWT = /eyJhbGciOi[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}/;

function trackedFiles(): string[] {
  return execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' }).split('\0').filter(Boolean);
}

describe('secrets in the repository', () => {
  it('no tracked file holds a private key or a signed token', () => {
    const files = trackedFiles();
    expect(files.length).toBeGreaterThan(100);
    const findings: string[] = [];
    for (const file of files) {
      const full = path.join(root, file);
      let text: string;
      try {
        const stat = fs.statSync(full);
        if (!stat.isFile() || stat.size > 20 * 1024 * 1024) continue;
        text = fs.readFileSync(full, 'latin1');
      } catch {
        continue; // deleted in the working tree
      }
      for (const [what, pattern] of [['PEM private key', PEM_PRIVATE], ['private JWK', PRIVATE_JWK], ['signed JWT', JWT]] as const) {
        if (pattern.test(text)) findings.push(`${file}: ${what}`);
      }
    }
    expect(findings).toEqual([]);
  });

  it('the patterns find what they look for (so the scan above cannot pass vacuously)', () => {
    const body = 'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg'.repeat(2);
    expect(PEM_PRIVATE.test(`${DASHES}BEGIN EC PRIVATE KEY${DASHES}\n${body}\n${DASHES}END EC PRIVATE KEY${DASHES}`)).toBe(true);
    expect(PEM_PRIVATE.test(`${DASHES}BEGIN PRIVATE KEY${DASHES}\r\n${body}`)).toBe(true);
    expect(PEM_PRIVATE.test(`${DASHES}BEGIN ENCRYPTED PRIVATE KEY${DASHES}\nProc-Type: 4,ENCRYPTED\n\n${body}`)).toBe(true);
    // Code that writes a key it generated at run time holds the header, not a key.
    expect(PEM_PRIVATE.test(`\`${DASHES}BEGIN PRIVATE KEY${DASHES}\\n\${pkcs8.toString('base64')}\``)).toBe(false);
    expect(PRIVATE_JWK.test(JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'x'.repeat(43) }))).toBe(true);
    expect(PRIVATE_JWK.test(JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'a', y: 'b' }))).toBe(false);
    expect(JWT.test(`${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from('{"sub":"someone-here"}').toString('base64url')}.${'s'.repeat(40)}`)).toBe(true);
  });

  it('the data folder (development PKI, token key, databases, audit trail) is ignored by git', () => {
    const ignored = execFileSync('git', ['check-ignore', 'data/pki/ca.key', 'data/auth/dev-issuer-key.json', 'data/dead-letters.sqlite'], { cwd: root, encoding: 'utf8' });
    expect(ignored.trim().split('\n')).toHaveLength(3);
  });
});

describe('token redaction in logs', () => {
  it('redacts access_token in URLs and bearer values in any field, keeping the rest', () => {
    const lines: string[] = [];
    const logger = createLogger('debug', {}, (l) => lines.push(l));
    logger.warn('upgrade failed for /v1/stream?access_token=eyJabc.def.ghi&lastEventId=4', { url: '/x?a=1&access_token=SECRET1', headers: { authorization: 'Bearer SECRET2' } });
    expect(lines[0]).not.toMatch(/eyJabc|SECRET1|SECRET2/);
    expect(lines[0]).toContain('access_token=[redacted]&lastEventId=4');
    expect(lines[0]).toContain('Bearer [redacted]');
    expect(redactSecrets('state=active&limit=5')).toBe('state=active&limit=5');
    const jwt = `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from('{"sub":"dr"}').toString('base64url')}.c2lnbmF0dXJl`;
    expect(redactSecrets(`protocols: pulsebridge.v1, bearer.${jwt}`)).toBe('protocols: pulsebridge.v1, bearer.[redacted]');
    expect(redactSecrets(JSON.stringify({ first: { type: 'auth', token: 'opaque-secret' } }))).toBe('{"first":{"type":"auth","token":"[redacted]"}}');
    expect(redactSecrets(`anything ${jwt} here`)).toBe('anything [redacted-jwt] here');
  });
});
