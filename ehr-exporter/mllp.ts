/**
 * MLLP transport from @medplum/hl7 (Hl7Client, Hl7Connection, Hl7Server), loaded on first use:
 * only deployments that speak HL7 v2 (PULSEBRIDGE_HL7_MLLP) load it, and a FHIR-only installation
 * that leaves the optional package out still type-checks and starts. The interfaces below are the
 * part of the library's API we use (@medplum/hl7 5.x index.d.ts); messages are @medplum/core
 * Hl7Message objects.
 *
 * MLLP over TLS (`mllps://`, IHE ATNA secure node): the library's Hl7Client opens plain TCP only,
 * but its Hl7Connection frames and matches ACKs on any net.Socket, and a tls.TLSSocket is one. So
 * {@link createMllpClient} opens the TLS socket itself, always verifying the receiver's certificate
 * and host name, and hands it to Hl7Connection once the handshake is done.
 */
import { isIP, type Socket } from 'node:net';
import tls from 'node:tls';
import { Hl7Message } from '@medplum/core';
import { PulsebridgeError } from '../platform/errors.ts';
import { readTlsFiles, type TlsFiles } from '../platform/security/tls-files.ts';

export interface MllpClient {
  /** Sends one message and resolves with the application ACK matched on MSH-10 (rejects on timeout or a closed socket). */
  sendAndWait(message: Hl7Message, options?: { timeoutMs?: number }): Promise<Hl7Message>;
  close(): Promise<void>;
}

/** One MLLP connection over a socket (either end): the library's Hl7Connection. */
export interface MllpConnection {
  addEventListener(type: 'message', listener: (event: { message: Hl7Message }) => void): void;
  addEventListener(type: 'close', listener: () => void): void;
  send(reply: Hl7Message): void;
  sendAndWait(message: Hl7Message, options?: { timeoutMs?: number }): Promise<Hl7Message>;
  close(): Promise<void>;
  isClosed(): boolean;
}

export interface MllpServer {
  server?: { address(): unknown };
  start(port: number): Promise<void>;
  stop(options?: { forceDrainTimeoutMs?: number }): Promise<void>;
}

export interface MllpLibrary {
  Hl7Client: new (options: { host: string; port: number; keepAlive?: boolean; connectTimeout?: number }) => MllpClient & { connect(): Promise<MllpConnection> };
  Hl7Connection: new (socket: Socket) => MllpConnection;
  Hl7Server: new (handler: (connection: MllpConnection) => void) => MllpServer;
}

const PACKAGE = '@medplum/hl7';
let library: Promise<MllpLibrary> | undefined;

export function loadMllp(): Promise<MllpLibrary> {
  library ??= (import(PACKAGE) as Promise<MllpLibrary>).catch((err: unknown) => {
    library = undefined;
    throw new Error(`HL7 v2 export needs the npm package ${PACKAGE} (npm ci installs it): ${(err as Error).message}`);
  });
  return library;
}

/** TLS to the interface engine beyond Node's defaults (PEM texts), as for the FHIR EHR. */
export type MllpTls = TlsFiles;

/** Reads PULSEBRIDGE_HL7_CA_FILE / _CLIENT_CERT / _CLIENT_KEY at start-up and checks them (platform/security/tls-files.ts). */
export function readHl7Tls(files: { caFile?: string; certFile?: string; keyFile?: string }): MllpTls {
  return readTlsFiles('PULSEBRIDGE_HL7', files);
}

/** The MLLP client for `target`: over TLS when `target.tls` is set (`mllps://`), else the library's plain-TCP Hl7Client. */
export async function createMllpClient(target: { host: string; port: number; tls?: MllpTls | undefined }, connectTimeoutMs: number): Promise<MllpClient> {
  const lib = await loadMllp();
  if (!target.tls) return new TcpMllpClient(new lib.Hl7Client({ host: target.host, port: target.port, keepAlive: true, connectTimeout: connectTimeoutMs }), `${target.host}:${target.port}`);
  return new TlsMllpClient(lib, { host: target.host, port: target.port, tls: target.tls, connectTimeoutMs });
}

/**
 * MLLP over plain TCP: the library's Hl7Client, except that a send fails as soon as the receiver
 * closes the connection. Hl7Client leaves the send waiting for its ACK timeout (10 s by default)
 * on a socket that is gone: an engine that drops the connection on a message it cannot take was
 * reported as "Client timeout" and retried only after that wait (EHR walk, /work/notes/ehr-walk.md #6).
 */
export class TcpMllpClient implements MllpClient {
  readonly #client: MllpClient & { connect(): Promise<MllpConnection> };
  readonly #where: string;
  /** Per connection, one promise that rejects when it closes (one listener per connection, not per message). */
  readonly #closed = new WeakMap<MllpConnection, Promise<never>>();

  constructor(client: MllpClient & { connect(): Promise<MllpConnection> }, where: string) {
    this.#client = client;
    this.#where = where;
  }

  #closedOf(connection: MllpConnection): Promise<never> {
    let closed = this.#closed.get(connection);
    if (!closed) {
      closed = new Promise<never>((_, reject) => {
        const fail = () => reject(new Error(`MLLP to ${this.#where}: the receiver closed the connection`));
        if (connection.isClosed()) fail();
        else connection.addEventListener('close', fail);
      });
      closed.catch(() => {}); // only a pending send cares
      this.#closed.set(connection, closed);
    }
    return closed;
  }

  async sendAndWait(message: Hl7Message, options?: { timeoutMs?: number }): Promise<Hl7Message> {
    const connection = await this.#client.connect();
    return Promise.race([connection.sendAndWait(message, options), this.#closedOf(connection)]);
  }

  close(): Promise<void> {
    return this.#client.close();
  }
}

/** Why a TLS connection failed, with the setting to look at: the text goes to the log and /healthz (no PHI in it). */
function tlsFailure(where: string, err: Error & { code?: string; reason?: string }): Error {
  const code = err.code ?? '';
  // OpenSSL's errors carry a short `reason` besides a message with its source location; Node's
  // advice about --use-system-ca does not apply (the CA to trust is PULSEBRIDGE_HL7_CA_FILE).
  const text = (code.startsWith('ERR_SSL') && err.reason ? err.reason : err.message).replace(/; if the root CA is installed locally.*$/s, '').trim();
  const hint =
    code === 'ERR_TLS_CERT_ALTNAME_INVALID' ? '; the receiver\'s certificate is not for the host in PULSEBRIDGE_HL7_MLLP'
    : /CERT|SIGNATURE|ISSUER|SELF_SIGNED/.test(code) && !code.startsWith('ERR_SSL') ? '; the receiver\'s certificate is not trusted (PULSEBRIDGE_HL7_CA_FILE) or not valid now'
    : /ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|ACCESS_DENIED|HANDSHAKE_FAILURE)/.test(code) ? '; the receiver refused the handshake, e.g. our client certificate (PULSEBRIDGE_HL7_CLIENT_CERT)'
    : '';
  return new Error(`MLLP over TLS to ${where}: ${text}${code ? ` (${code})` : ''}${hint}`, { cause: err });
}

/** An open connection, and a promise that rejects (with the reason) when its socket closes. */
interface Open { connection: MllpConnection; closed: Promise<never> }

/**
 * MLLP over TLS: the library's Hl7Connection on a tls.TLSSocket. Like Hl7Client it connects on
 * the first send and again on the next send after the socket closed. Unlike Hl7Client it also
 * fails a pending send as soon as the socket closes or errs (a receiver that refuses our client
 * certificate does so after the handshake, TLS 1.3) rather than when the ACK timeout runs out.
 */
class TlsMllpClient implements MllpClient {
  readonly #lib: MllpLibrary;
  readonly #o: { host: string; port: number; tls: MllpTls; connectTimeoutMs: number };
  readonly #where: string;
  #open: Promise<Open> | undefined;
  /** The socket whose handshake is under way, so that close() can end it. */
  #handshaking: tls.TLSSocket | undefined;

  constructor(lib: MllpLibrary, o: { host: string; port: number; tls: MllpTls; connectTimeoutMs: number }) {
    this.#lib = lib;
    this.#o = o;
    this.#where = `${o.host}:${o.port}`;
  }

  #connect(): Promise<Open> {
    if (this.#open) return this.#open;
    const { host, port, tls: t, connectTimeoutMs } = this.#o;
    const attempt = new Promise<Open>((resolve, reject) => {
      const socket = tls.connect({
        host, port,
        // SNI for a name; the certificate is checked against `host` either way (checkServerIdentity).
        ...(isIP(host) ? {} : { servername: host }),
        // Explicit, so that NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment cannot turn it off.
        rejectUnauthorized: true,
        // The extra CA adds to the default roots, as PULSEBRIDGE_FHIR_CA_FILE does.
        ...(t.ca ? { ca: [...tls.getCACertificates('default'), t.ca] } : {}),
        ...(t.cert ? { cert: t.cert, key: t.key } : {}),
      });
      this.#handshaking = socket;
      const timer = setTimeout(() => fail(new Error(`no TLS handshake within ${connectTimeoutMs} ms (does the receiver speak MLLP over TLS on this port?)`)), connectTimeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.off('close', closedEarly);
        socket.destroy();
        if (this.#handshaking === socket) this.#handshaking = undefined;
        reject(tlsFailure(this.#where, err));
      };
      const closedEarly = () => fail(new Error('connection closed before the TLS handshake finished'));
      socket.once('error', fail);
      socket.once('close', closedEarly);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        socket.off('error', fail);
        socket.off('close', closedEarly);
        if (this.#handshaking === socket) this.#handshaking = undefined;
        socket.setKeepAlive(true);
        let lastError: Error | undefined;
        let answered = false;
        socket.on('error', (err) => (lastError = err));
        socket.on('data', () => (answered = true));
        const closed = new Promise<never>((_, rejectClosed) => socket.once('close', () => {
          if (this.#open === attempt) this.#open = undefined;
          // A receiver that does not accept our client certificate may just close, with no TLS alert.
          const why = answered ? 'the receiver closed the connection' : 'the receiver closed the connection without answering (one that does not accept our client certificate, PULSEBRIDGE_HL7_CLIENT_CERT, may do that)';
          rejectClosed(lastError ? tlsFailure(this.#where, lastError) : new Error(`MLLP over TLS to ${this.#where}: ${why}`));
        }));
        closed.catch(() => {}); // only a pending send cares
        resolve({ connection: new this.#lib.Hl7Connection(socket), closed });
      });
    });
    this.#open = attempt;
    attempt.catch(() => {
      if (this.#open === attempt) this.#open = undefined;
    });
    return attempt;
  }

  async sendAndWait(message: Hl7Message, options?: { timeoutMs?: number }): Promise<Hl7Message> {
    const open = await this.#connect();
    if (open.connection.isClosed()) return open.closed;
    return Promise.race([open.connection.sendAndWait(message, options), open.closed]);
  }

  /** Closes the connection (its pending sends reject), or ends a handshake under way. */
  async close(): Promise<void> {
    const attempt = this.#open;
    this.#open = undefined;
    this.#handshaking?.destroy();
    const open = await attempt?.catch(() => undefined);
    await open?.connection.close();
  }
}

/**
 * A message that goes on the wire exactly as `text` (hl7-messages.ts: every segment CR-terminated).
 * The library frames `message.toString()` as <VT>…<FS><CR>, and Hl7Message.toString() joins the
 * segments with CR, leaving the last one unterminated; the parsed segments are still there for
 * the library's ACK matching on MSH-10.
 */
class WireMessage extends Hl7Message {
  readonly #text: string;
  constructor(text: string) {
    const parsed = Hl7Message.parse(text.replace(/\r+$/, ''));
    super(parsed.segments, parsed.context);
    this.#text = text;
  }
  override toString(): string {
    return this.#text;
  }
}

export function wireMessage(text: string): Hl7Message {
  return new WireMessage(text);
}
