import { randomBytes } from 'node:crypto';
import type { SessionKind, SshSessionView } from '../src/services/control/daemon-routes.js';

export type { SessionKind };
export type SessionView = SshSessionView;

export interface Session extends SessionView {
  /** Ends it (client told, processes in the VM ended). */
  kill(reason: string): void;
}

/**
 * A session's closing audit line, the same fields whoever ran it (the SSH gateway, the web server):
 * `event` names the front-end, `client` the field its client's identity goes in.
 */
export function sessionEndLine(
  event: string,
  client: 'fingerprint' | 'browser',
  session: Session,
  outcome: string,
  exitCode: number | null,
  startedAt: number,
): Record<string, unknown> {
  return {
    event,
    id: session.id,
    user: session.user,
    [client]: session.fingerprint,
    source: session.source,
    vm: session.vm,
    kind: session.kind,
    command: session.command,
    startedAt: session.startedAt,
    durationMs: Date.now() - startedAt,
    exitCode,
    bytesIn: session.bytesIn,
    bytesOut: session.bytesOut,
    outcome,
    ...(session.recording ? { recording: session.recording } : {}),
  };
}

export const newSessionId = () => randomBytes(6).toString('hex');

/** A new session's record: who (login, key, address), what, and since when (`startedAt`, ms). */
export function newSession(
  who: { identity: { login: string; fingerprint: string }; source: string },
  what: { kind: SessionKind; vm?: string; command?: string; startedAt: number; kill: (reason: string) => void },
): Session {
  return {
    id: newSessionId(),
    user: who.identity.login,
    vm: what.vm ?? '',
    fingerprint: who.identity.fingerprint,
    source: who.source,
    kind: what.kind,
    ...(what.command === undefined ? {} : { command: what.command }),
    startedAt: new Date(what.startedAt).toISOString(),
    bytesIn: 0,
    bytesOut: 0,
    kill: what.kill,
  };
}

/**
 * The daemon's open sessions, SSH and web alike (one registry, shared by the SSH gateway and the
 * web server): counted per user (limit) and per VM (idle policy), listed by `berth sessions`.
 */
export class SessionRegistry {
  private readonly all = new Map<string, Session>();
  /** Channels opened and not yet closed per user, started or not (the limit counts these). */
  private readonly opening = new Map<string, number>();

  reserve(user: string, max: number): boolean {
    const n = this.opening.get(user) ?? 0;
    if (n >= max) return false;
    this.opening.set(user, n + 1);
    return true;
  }

  release(user: string): void {
    const n = (this.opening.get(user) ?? 1) - 1;
    if (n <= 0) this.opening.delete(user);
    else this.opening.set(user, n);
  }

  add(session: Session): void {
    this.all.set(session.id, session);
  }

  remove(id: string): void {
    this.all.delete(id);
  }

  get(id: string): Session | undefined {
    return this.all.get(id);
  }

  list(): SessionView[] {
    return [...this.all.values()].map(({ kill: _kill, ...view }) => ({ ...view }));
  }

  countForVm(ref: string): number {
    let n = 0;
    for (const s of this.all.values()) if (s.vm === ref) n++;
    return n;
  }

  get size(): number {
    return this.all.size;
  }
}
