import type pino from 'pino';
import type { Connection } from 'ssh2';
import type { GatewayIdentity } from '../../src/services/access/ssh-access.js';
import type { Berth } from '../../src/services/core/context.js';
import type { ConfigValues } from '../../src/values/config-keys.js';
import type { SshMetrics } from '../metrics.js';
import type { Recorder } from '../recorder.js';
import type { SessionRegistry } from '../sessions.js';

/** What a gateway connection hands each of its channels. */
export interface ConnectionScope {
  ctx: Berth;
  /** The client's connection: for the channels the gateway opens to it (forwarded ports, agent, X11). */
  client: Connection;
  log: pino.Logger;
  metrics: SshMetrics;
  registry: SessionRegistry;
  recorder: Recorder;
  identity: GatewayIdentity;
  source: string;
  config: ConfigValues;
  /** Traffic seen (for the idle timeout). */
  touch(): void;
  /** Packets written until the next tick leave in one system call (writev). */
  batch(): void;
  /** Runs `fn` when the connection closes (at once if it already has); the result unsubscribes. */
  onClose(fn: () => void): () => void;
  /** The longest any wait on the engine for a session lasts (exit codes, signals, helper reports). */
  deadlineMs: number;
  /**
   * A slot for one more session of this connection (`ssh.max-sessions`, like sshd's MaxSessions)
   * and of this user over all their connections (`ssh.max-user-sessions`): the release, or why not.
   */
  reserveSession(): (() => void) | Refusal;
  /** Refuses a channel open saying why, as OpenSSH's sshd does (the client prints both). */
  refuse(reject: () => void, why: Refusal): void;
}

/** Why a channel open is refused: the RFC 4254 reason and a line for the person. */
export interface Refusal {
  reason: 'prohibited' | 'connect-failed' | 'resource-shortage';
  text: string;
}

export const isRefusal = (x: unknown): x is Refusal => typeof x === 'object' && x !== null && 'reason' in x;
