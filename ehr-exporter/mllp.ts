/**
 * MLLP transport from @medplum/hl7 (Hl7Client, Hl7Server), loaded on first use: only deployments
 * that speak HL7 v2 (PULSEBRIDGE_HL7_MLLP) load it, and a FHIR-only installation that leaves the
 * optional package out still type-checks and starts. The interfaces below are the part of the
 * library's API we use (@medplum/hl7 5.x index.d.ts); messages are @medplum/core Hl7Message objects.
 */
import { Hl7Message } from '@medplum/core';

export interface MllpClient {
  /** Sends one message and resolves with the application ACK matched on MSH-10 (rejects on timeout or a closed socket). */
  sendAndWait(message: Hl7Message, options?: { timeoutMs?: number }): Promise<Hl7Message>;
  close(): Promise<void>;
}

export interface MllpConnection {
  addEventListener(type: 'message', listener: (event: { message: Hl7Message }) => void): void;
  send(reply: Hl7Message): void;
}

export interface MllpServer {
  server?: { address(): unknown };
  start(port: number): Promise<void>;
  stop(options?: { forceDrainTimeoutMs?: number }): Promise<void>;
}

export interface MllpLibrary {
  Hl7Client: new (options: { host: string; port: number; keepAlive?: boolean; connectTimeout?: number }) => MllpClient;
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
