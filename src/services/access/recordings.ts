import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { type CastHeader, parseCast } from '../../domain/asciicast.js';
import { BerthError, invalidInput } from '../../errors.js';
import { listRecordings, type RecordingFile, readRecordingFile, recordingPath, recordingsDir } from '../../host/recordings.js';
import type { State } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';

/**
 * Session recordings as the operator (CLI, TUI) and, where the operator allows it
 * (sessions.record-self), their own users (chat, web) see them. One rule for "whose": the user id
 * in the recording's header, never the login alone (logins are given to other people later).
 */
export interface RecordingView {
  /** The session's id (`berth sessions replay ID`). */
  id: string;
  login: string;
  userId: string;
  /** USER/VM. */
  vm: string;
  via: string;
  /** The command of an `ssh -t CMD` session; null for a shell. */
  command: string | null;
  startedAt: string;
  /** From its start to its last write. */
  seconds: number;
  bytes: number;
  /** Whether what the user typed is in it. */
  input: boolean;
}

const RECORDING_ID = /^[0-9a-f]{12}$/;

export function checkRecordingId(input: string): string {
  if (!RECORDING_ID.test(input))
    throw invalidInput('INVALID_RECORDING_ID', `"${input.slice(0, 40)}" is not a recording id.`, 'See the ids: berth sessions recordings');
  return input;
}

function view(file: RecordingFile): RecordingView | null {
  const h: CastHeader | null = file.header;
  if (!h?.berth || !RECORDING_ID.test(file.id) || h.berth.session !== file.id) return null;
  const started = h.timestamp * 1000;
  return {
    id: file.id,
    login: h.berth.user,
    userId: h.berth.userId,
    vm: h.berth.vm,
    via: h.berth.via,
    command: h.command ?? null,
    startedAt: new Date(started).toISOString(),
    seconds: Math.max(0, Math.round((file.modifiedAt.getTime() - started) / 1000)),
    bytes: file.bytes,
    input: h.berth.input === true,
  };
}

/** The recordings, newest first; with `userId` (or `login`, for a login no one holds now), only that person's. */
export async function listRecordingViews(home: string, filter: { userId?: string; login?: string } = {}): Promise<RecordingView[]> {
  const all = (await listRecordings(home)).flatMap((f) => view(f) ?? []);
  return all
    .filter((r) => (filter.userId === undefined || r.userId === filter.userId) && (filter.login === undefined || r.login === filter.login))
    .reverse();
}

/** `--user U`: the person now holding login U (their id), or, for a login no one holds now, whoever held it. */
export function recordingsFilterFor(state: State, login: string | undefined): { userId?: string; login?: string } {
  if (login === undefined) return {};
  const user = state.users.find((u) => u.login === login);
  return user ? { userId: user.id } : { login };
}

const notFound = (id: string) =>
  new BerthError('RECORDING_NOT_FOUND', `There is no session recording ${id}.`, 'See the recordings kept: berth sessions recordings');

/**
 * A recording by id; with `owner`, only when it is that person's (another's is "not found", the
 * same answer as one that does not exist).
 */
export async function findRecording(home: string, id: string, owner?: { userId: string }): Promise<RecordingView & { path: string }> {
  checkRecordingId(id);
  const found = await readRecordingFile(home, id);
  const v = found ? view(found) : null;
  if (!found || !v || (owner && v.userId !== owner.userId)) throw notFound(id);
  return { ...v, path: recordingPath(home, id) };
}

/** The file's text, checked to be asciicast v2 (for the terminal replay). */
export async function readRecording(home: string, id: string): Promise<{ view: RecordingView; cast: ReturnType<typeof parseCast> }> {
  const found = await findRecording(home, id);
  const text = await readFile(found.path, 'utf8');
  return { view: found, cast: parseCast(text) };
}

/** The file as a stream (export, the browser's player): nothing large held in memory. */
export async function recordingStream(
  home: string,
  id: string,
  owner?: { userId: string },
): Promise<{ view: RecordingView; stream: Readable }> {
  const found = await findRecording(home, id, owner);
  return { view: found, stream: createReadStream(found.path) };
}

/** Users may see their own recordings (chat, web) only where the operator allows it. */
export function checkSelfRecordings(state: State): void {
  if (!effectiveConfig(state.config)['sessions.record-self'])
    throw new BerthError(
      'RECORDINGS_NOT_OFFERED',
      'Replaying your own sessions is not offered on this host.',
      'The operator can allow it: berth config set sessions.record-self on',
    );
}

/** What `berth doctor` says of session recordings (warnings only: sessions work without them). */
export interface RecordingsCheck {
  /** config sessions.record (plans may say otherwise). */
  mode: string;
  /** Plans that record whatever the config says. */
  plansRecording: string[];
  count: number;
  totalBytes: number;
  maxBytes: number;
  warnings: string[];
}

export async function checkRecordingsStore(home: string, state: State): Promise<RecordingsCheck> {
  const cfg = effectiveConfig(state.config);
  const all = await listRecordings(home);
  const totalBytes = all.reduce((n, r) => n + r.bytes, 0);
  const warnings: string[] = [];
  const dir = await stat(recordingsDir(home)).catch(() => null);
  if (dir && (dir.mode & 0o077) !== 0)
    warnings.push(
      `the recordings folder ${recordingsDir(home)} is readable by others (mode ${(dir.mode & 0o777).toString(8)}): chmod 700 it`,
    );
  const open = [];
  for (const r of all) {
    const info = await stat(r.path).catch(() => null);
    if (info && (info.mode & 0o077) !== 0) open.push(r.id);
  }
  if (open.length)
    warnings.push(`${open.length} recording(s) readable by others (e.g. ${open[0]}): chmod 600 ${recordingsDir(home)}/*.cast`);
  // The daemon prunes every 10 minutes; far past the cap, it is not running (or cannot delete).
  if (totalBytes > cfg['sessions.record-max'] * 1.1)
    warnings.push(
      `recordings hold ${totalBytes} bytes, past sessions.record-max (${cfg['sessions.record-max']}): the daemon prunes them while it runs (berth daemon start)`,
    );
  return {
    mode: cfg['sessions.record'],
    plansRecording: state.plans.filter((p) => p.record !== undefined && p.record !== 'off').map((p) => `${p.name} (${p.record})`),
    count: all.length,
    totalBytes,
    maxBytes: cfg['sessions.record-max'],
    warnings,
  };
}
