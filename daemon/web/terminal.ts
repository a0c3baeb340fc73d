import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type pino from 'pino';
import type { WebSocket } from 'ws';
import { vmRef } from '../../src/domain/lookups.js';
import { recordingNoticeFor, recordModeFor } from '../../src/domain/recording.js';
import { BerthError } from '../../src/errors.js';
import { gatewayActor, openGatewayVm } from '../../src/services/access/ssh-access.js';
import { webAccessWithdrawn } from '../../src/services/access/web-access.js';
import type { WebIdentity } from '../../src/services/access/web-links.js';
import type { Berth } from '../../src/services/core/context.js';
import { isDeadline, withDeadline } from '../../src/services/engine/deadline.js';
import { execInVm, SESSION_ENV, shellCommand, signalExecSession, wrapSessionCommand } from '../../src/services/vm/vm-exec.js';
import type { State } from '../../src/state/schema.js';
import { type ConfigValues, effectiveConfig } from '../../src/values/config-keys.js';
import { LatestWins } from '../latest-wins.js';
import type { WebMetrics } from '../metrics.js';
import type { Recorder, SessionRecording } from '../recorder.js';
import { newSession, type Session, type SessionRegistry } from '../sessions.js';
import { Screen } from './screen.js';
import { webAudit } from './web-audit.js';

/**
 * The terminal's WebSocket protocol: binary frames whose first byte is the type.
 * Browser → daemon: DATA (keys, UTF-8), RESIZE (cols, rows: two big-endian u16), PING.
 * Daemon → browser: DATA (output), PING (the answer), INFO (JSON: the key to reattach with,
 * whether this is a reattach), EXIT (JSON: why it ended; the page does not reconnect).
 */
export const FRAME = { data: 0, resize: 1, ping: 2, info: 3, exit: 4 } as const;

/** Close codes the page knows: the session ended (do not reconnect), opened in another tab. */
export const CLOSE = { ended: 4000, replaced: 4001 } as const;

const MAX_COLS = 500;
/** Resize frames closer together than this are applied as one (the last size). */
const RESIZE_MS = 50;
const MAX_ROWS = 200;
/** Output waiting for a browser past this pauses the shell; it goes on below LOW_WATER. */
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
/** A browser that reads nothing for this long is let go (the terminal waits to be reattached). */
const SLOW_CLIENT_MS = 30_000;
/** A browser silent this long (the page pings every 20 s) is let go likewise. */
const SILENT_MS = 90_000;
/** Keys kept while the shell starts (the VM may be starting too); more are dropped. */
const PENDING_MAX = 64 * 1024;

export const clampSize = (cols: number, rows: number) => ({
  cols: Math.min(MAX_COLS, Math.max(2, Math.floor(cols) || 80)),
  rows: Math.min(MAX_ROWS, Math.max(1, Math.floor(rows) || 24)),
});

export interface TerminalDeps {
  ctx: Berth;
  log: pino.Logger;
  metrics: WebMetrics;
  registry: SessionRegistry;
  deadlineMs: number;
  recorder: Recorder;
}

/** Who opens a terminal: the browser's user and login (its tag), from where. */
export interface TerminalOpener {
  who: WebIdentity;
  browserTag: string;
  source: string;
  /** The browser's session is in use (keeps it from its idle timeout while the terminal is). */
  touch?: () => void;
}

const encode = (type: number, payload: Uint8Array | string = new Uint8Array(0)) => {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const out = Buffer.allocUnsafe(1 + body.length);
  out[0] = type;
  out.set(body, 1);
  return out;
};

/**
 * The web terminals: each a shell in the user's VM through the same exec service as SSH sessions
 * (a pty, run as the user, under the VM helper when the image has it), listed with them, killable,
 * audited. A browser that goes away leaves its shell waiting `web.reattach` for it to come back.
 */
export class WebTerminals {
  private readonly byKey = new Map<string, WebTerminal>();
  private readonly perUser = new Map<string, number>();

  constructor(private readonly deps: TerminalDeps) {}

  /** A browser's WebSocket for `vm` (already checked: cookie, Origin, owner): reattached or a new shell. */
  async open(socket: WebSocket, opener: TerminalOpener, vm: string, query: { attach?: string; cols: number; rows: number }): Promise<void> {
    const existing = query.attach ? this.byKey.get(query.attach) : undefined;
    if (existing && existing.who.userId === opener.who.userId && existing.vmName === vm && !existing.finished) {
      await existing.attach(socket, opener);
      return;
    }
    const state = await this.deps.ctx.store.snapshot();
    const cfg = effectiveConfig(state.config);
    const login = opener.who.login;
    const open = this.perUser.get(opener.who.userId) ?? 0;
    const refuse = (message: string) => {
      this.deps.metrics.refusals.inc({ reason: 'limit' });
      this.deps.log.warn({ user: login, source: opener.source, why: message }, 'web terminal refused');
      socket.send(encode(FRAME.exit, JSON.stringify({ message })));
      socket.close(CLOSE.ended, 'limit');
    };
    if (open >= cfg['web.max-sessions']) {
      return refuse(`berth: you have ${open} web terminals open, the most allowed (web.max-sessions); close one and reload.`);
    }
    if (!this.deps.registry.reserve(login, cfg['ssh.max-user-sessions'])) {
      return refuse(`berth: at most ${cfg['ssh.max-user-sessions']} sessions for one user (ssh.max-user-sessions); close one and reload.`);
    }
    this.perUser.set(opener.who.userId, open + 1);
    const key = randomBytes(18).toString('base64url');
    const terminal = new WebTerminal(this.deps, opener, vm, key, cfg, () => {
      this.byKey.delete(key);
      this.deps.registry.release(login);
      const n = (this.perUser.get(opener.who.userId) ?? 1) - 1;
      if (n <= 0) this.perUser.delete(opener.who.userId);
      else this.perUser.set(opener.who.userId, n);
    });
    this.byKey.set(key, terminal);
    await terminal.start(socket, clampSize(query.cols, query.rows));
  }

  /** Ends the terminals whose access was withdrawn (or whose VM is gone); how many. */
  revalidate(state: State): number {
    let n = 0;
    for (const t of [...this.byKey.values()]) {
      const reason =
        webAccessWithdrawn(state, t.who) ??
        (state.vms.some((v) => v.user === t.who.login && v.name === t.vmName) ? null : 'your VM was removed');
      if (!reason) continue;
      n++;
      t.kill(reason);
    }
    return n;
  }

  stop(): void {
    for (const t of [...this.byKey.values()]) t.kill('the berth daemon is stopping');
  }

  get size(): number {
    return this.byKey.size;
  }
}

class WebTerminal {
  finished = false;
  readonly who: WebIdentity;
  private readonly session: Session;
  private readonly startedAt = Date.now();
  private socket: WebSocket | null = null;
  private screen: Screen | null = null;
  private stream: Duplex | null = null;
  private ref = '';
  private wrapped = false;
  private exitCode: number | null = null;
  private timedOut = false;
  private size: { cols: number; rows: number } = { cols: 80, rows: 24 };
  private resizeExec: ((cols: number, rows: number) => Promise<void>) | null = null;
  /** One resize call at a time, the latest size next (a browser may send them as fast as it likes). */
  private readonly resizes = new LatestWins<{ cols: number; rows: number }>(({ cols, rows }) =>
    this.resizeExec && !this.finished ? this.resizeExec(cols, rows) : undefined,
  );
  private reattachTimer: NodeJS.Timeout | null = null;
  private resizeTimer: NodeJS.Timeout | null = null;
  private watch: NodeJS.Timeout | null = null;
  private lastHeard = Date.now();
  private pausedSince: number | null = null;
  /** Output read this turn of the event loop, not yet sent. */
  private outgoing: Buffer[] = [];
  /** Keys typed before the shell was there (at most PENDING_MAX bytes), given to it when it is. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private touch: () => void;
  /** The terminal's recording, when its user's sessions are recorded. */
  private recording: SessionRecording | null = null;

  constructor(
    private readonly deps: TerminalDeps,
    opener: TerminalOpener,
    readonly vmName: string,
    private readonly key: string,
    private readonly config: ConfigValues,
    private readonly released: () => void,
  ) {
    this.who = opener.who;
    this.touch = opener.touch ?? (() => undefined);
    this.session = newSession(
      { identity: { login: opener.who.login, fingerprint: `web:${opener.browserTag}` }, source: opener.source },
      { kind: 'web-terminal', startedAt: this.startedAt, kill: (reason) => this.kill(reason) },
    );
    this.session.vm = `${opener.who.login}/${vmName}`;
    deps.metrics.active.inc();
  }

  kill(reason: string): void {
    void this.end('killed', `berth: ${reason}`);
  }

  async start(socket: WebSocket, size: { cols: number; rows: number }): Promise<void> {
    this.size = size;
    this.bind(socket);
    const { ctx, log } = this.deps;
    const note = (line: string) => this.send(FRAME.data, `${line}\r\n`);
    try {
      this.screen = await Screen.create(size.cols, size.rows);
      const identity = { userId: this.who.userId, login: this.who.login, role: this.who.role, vmName: this.vmName };
      const { vm, helper } = await openGatewayVm(ctx, identity, note, 'from the web');
      this.ref = vmRef(vm);
      this.session.vm = this.ref;
      if (this.finished) return;
      this.deps.registry.add(this.session);
      this.wrapped = helper !== null;
      await this.record(note);
      if (this.finished) return;
      const program = shellCommand();
      const cmd = helper ? wrapSessionCommand(helper, this.session.id, program) : program;
      const env = ['TERM=xterm-256color', 'COLORTERM=truecolor', `${SESSION_ENV}=${this.session.id}`];
      const handle = await execInVm(ctx, this.ref, { cmd, tty: true, stdin: true, env }, gatewayActor(this.who));
      if (this.finished) {
        handle.stream.destroy();
        await this.hangup().catch(() => undefined);
        return;
      }
      this.stream = handle.stream;
      this.resizeExec = handle.resize;
      for (const keys of this.pending) handle.stream.write(keys);
      this.pending = [];
      this.pushSize();
      handle.stream.on('error', () => undefined);
      handle.stream.on('data', (chunk: Buffer) => this.output(chunk));
      let ending = false;
      const done = async () => {
        if (ending || this.finished) return;
        ending = true;
        this.exitCode = await withDeadline(this.deps.deadlineMs, 'report the exit code', (abort) => handle.exitCode(abort)).catch((err) => {
          if (isDeadline(err)) this.timedOut = true;
          return null;
        });
        await this.end(
          this.timedOut ? 'timeout' : this.exitCode === null ? 'error' : 'ok',
          `berth: the shell ended (exit code ${this.exitCode ?? '?'}).`,
        );
      };
      handle.stream.once('end', () => void done());
      handle.stream.once('close', () => void done());
      // While nobody watches, the shell waits (as behind a terminal's XOFF) instead of filling the daemon.
      if (!this.socket) handle.stream.pause();
    } catch (err) {
      const e = err instanceof BerthError ? err : null;
      if (!e) log.error({ id: this.session.id, user: this.who.login, err: String(err) }, 'web terminal failed');
      this.exitCode = 1;
      await this.end(
        e ? `refused:${e.code}` : 'error',
        e ? `berth: ${e.message} ${e.hint}` : 'berth: the terminal could not be started; the operator can see why in the daemon log.',
      );
    }
  }

  /** Recorded when the user's sessions are: told first (in the terminal; the page says so too). */
  private async record(note: (line: string) => void): Promise<void> {
    const state = await this.deps.ctx.store.snapshot();
    const user = state.users.find((u) => u.id === this.who.userId);
    const mode = recordModeFor(state, user);
    if (mode === 'off') return;
    const notice = recordingNoticeFor(state, user);
    if (notice) note(notice);
    this.recording = await this.deps.recorder.start({
      id: this.session.id,
      login: this.who.login,
      userId: this.who.userId,
      vm: this.ref,
      via: 'web',
      term: 'xterm-256color',
      cols: this.size.cols,
      rows: this.size.rows,
      mode,
      config: effectiveConfig(state.config),
    });
    if (this.recording) this.session.recording = this.recording.id;
    if (this.finished) await this.recording?.close();
  }

  /** A browser came back: the screen as it is, then the shell goes on. */
  async attach(socket: WebSocket, opener: TerminalOpener): Promise<void> {
    const previous = this.socket;
    if (previous) {
      this.socket = null;
      previous.close(CLOSE.replaced, 'opened in another tab');
    }
    if (this.reattachTimer) clearTimeout(this.reattachTimer);
    this.reattachTimer = null;
    // What was on its way to the old page is in the screen sent below.
    this.outgoing = [];
    this.session.source = opener.source;
    this.touch = opener.touch ?? (() => undefined);
    this.bind(socket, true);
    const screen = (await this.screen?.snapshot()) ?? '';
    if (this.socket !== socket) return;
    this.send(FRAME.data, screen);
    this.stream?.resume();
  }

  private bind(socket: WebSocket, reattached = false): void {
    this.socket = socket;
    this.lastHeard = Date.now();
    socket.on('error', () => undefined);
    this.send(FRAME.info, JSON.stringify({ attach: this.key, reattached, session: this.session.id }));
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.socket !== socket) return;
      this.lastHeard = Date.now();
      this.touch();
      if (!isBinary || data.length === 0) return;
      this.input(socket, data);
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.detach();
    });
    if (!this.watch) {
      this.watch = setInterval(() => this.checkClient(), 1000);
      this.watch.unref();
    }
  }

  private input(socket: WebSocket, data: Buffer): void {
    const type = data[0];
    if (type === FRAME.data) {
      this.session.bytesIn += data.length - 1;
      this.deps.metrics.bytes.inc({ direction: 'in' }, data.length - 1);
      const stream = this.stream;
      const keys = data.subarray(1);
      this.recording?.input(keys);
      if (!stream) {
        if (this.pendingBytes + keys.length <= PENDING_MAX) {
          this.pending.push(Buffer.from(keys));
          this.pendingBytes += keys.length;
        }
        return;
      }
      // Keys faster than the shell reads them wait in the browser, not in the daemon.
      if (stream.writable && !stream.write(keys) && !socket.isPaused) {
        socket.pause();
        stream.once('drain', () => socket.resume());
      }
    } else if (type === FRAME.resize && data.length >= 5) {
      this.size = clampSize(data.readUInt16BE(1), data.readUInt16BE(3));
      // A reflow of the server-side screen costs milliseconds: a browser sending a flood of
      // resize frames gets the last size, once per RESIZE_MS, not one reflow each.
      this.resizeTimer ??= setTimeout(() => {
        this.resizeTimer = null;
        if (this.finished) return;
        this.screen?.resize(this.size.cols, this.size.rows);
        this.recording?.resize(this.size.cols, this.size.rows);
        this.pushSize();
      }, RESIZE_MS);
    } else if (type === FRAME.ping) {
      this.send(FRAME.ping);
    }
  }

  private output(chunk: Buffer): void {
    this.screen?.write(chunk);
    this.recording?.output(chunk);
    this.session.bytesOut += chunk.length;
    this.deps.metrics.bytes.inc({ direction: 'out' }, chunk.length);
    if (!this.socket) {
      this.stream?.pause();
      return;
    }
    // What one turn of the event loop read goes out as one frame.
    this.outgoing.push(chunk);
    if (this.outgoing.length === 1) setImmediate(() => this.sendOutput());
  }

  private sendOutput(): void {
    const chunks = this.outgoing;
    this.outgoing = [];
    const socket = this.socket;
    if (!socket || chunks.length === 0) return;
    const out = Buffer.allocUnsafe(1 + chunks.reduce((n, c) => n + c.length, 0));
    out[0] = FRAME.data;
    let at = 1;
    for (const c of chunks) {
      c.copy(out, at);
      at += c.length;
    }
    if (socket.readyState === socket.OPEN) socket.send(out);
    if (socket.bufferedAmount > HIGH_WATER && this.pausedSince === null) {
      this.pausedSince = Date.now();
      this.stream?.pause();
    }
  }

  /** Backpressure, slow and silent browsers: checked every second while a socket is bound. */
  private checkClient(): void {
    const socket = this.socket;
    if (!socket) return;
    if (this.pausedSince !== null) {
      if (socket.bufferedAmount < LOW_WATER) {
        this.pausedSince = null;
        this.stream?.resume();
      } else if (Date.now() - this.pausedSince > SLOW_CLIENT_MS) {
        this.deps.log.info({ id: this.session.id, user: this.who.login }, 'web terminal: the browser reads nothing; let go');
        socket.terminate();
        return;
      }
    }
    if (Date.now() - this.lastHeard > SILENT_MS) {
      this.deps.log.info({ id: this.session.id, user: this.who.login }, 'web terminal: the browser went silent; let go');
      socket.terminate();
    }
  }

  /** The browser went away: the shell waits for it `web.reattach`, paused. */
  private detach(): void {
    this.socket = null;
    this.outgoing = [];
    this.pausedSince = null;
    this.stream?.pause();
    if (this.finished) return;
    const windowS = this.config['web.reattach'];
    if (windowS <= 0) {
      void this.end('disconnected');
      return;
    }
    this.reattachTimer = setTimeout(() => void this.end('disconnected'), windowS * 1000);
    this.reattachTimer.unref();
  }

  private send(type: number, payload?: Uint8Array | string): void {
    const socket = this.socket;
    if (socket && socket.readyState === socket.OPEN) socket.send(encode(type, payload));
  }

  private pushSize(): void {
    this.resizes.push(this.size);
  }

  private hangup(): Promise<void> {
    return signalExecSession(this.deps.ctx, this.ref, this.session.id, 'HUP', {
      hangup: true,
      wrapped: this.wrapped,
      actor: gatewayActor(this.who),
      deadlineMs: this.deps.deadlineMs,
    });
  }

  /** Over: the browser told why, the processes in the VM ended, the slot freed, one audit line. */
  private async end(outcome: string, message?: string): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    if (this.reattachTimer) clearTimeout(this.reattachTimer);
    if (this.resizeTimer) clearTimeout(this.resizeTimer);
    if (this.watch) clearInterval(this.watch);
    this.deps.registry.remove(this.session.id);
    this.released();
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState === socket.OPEN) {
      socket.send(encode(FRAME.exit, JSON.stringify({ message: message ?? 'berth: the terminal ended.' })));
      socket.close(CLOSE.ended, outcome.slice(0, 60));
    }
    try {
      if (this.stream && outcome !== 'ok') {
        this.stream.destroy();
        await this.hangup().catch((err) => {
          if (isDeadline(err)) this.timedOut = true;
          this.deps.log.warn({ id: this.session.id, err: String(err) }, 'could not end the processes of a web terminal');
        });
      }
    } finally {
      this.stream?.destroy();
      this.screen?.dispose();
      this.deps.metrics.active.dec();
      await this.recording?.close();
      webAudit(this.deps, this.session, this.timedOut ? 'timeout' : outcome, this.exitCode, this.startedAt);
    }
  }
}
