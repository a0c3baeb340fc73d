import { statfs } from 'node:fs/promises';
import type pino from 'pino';
import type { CastHeader } from '../src/domain/asciicast.js';
import { type CastStats, CastWriter } from '../src/host/cast-writer.js';
import { ensureRecordingsDir, pruneRecordings, recordingPath, recordingsDir } from '../src/host/recordings.js';
import { withDeadline } from '../src/services/engine/deadline.js';
import type { ConfigValues } from '../src/values/config-keys.js';
import type { RecordMode } from '../src/values/recording.js';
import type { RecordingMetrics } from './metrics.js';

/** Output waiting for the disk past this is dropped (and marked) rather than held. */
const MAX_QUEUED_BYTES = 4 * 1024 ** 2;
/** The longest a recording's start (its folder, its file) may hold a session's start. */
const START_MS = 3000;
/** The longest a session's end waits for its recording's last writes. */
const CLOSE_MS = 3000;
/** A command's captured output is given to the writer in pieces of this size. */
const RUN_CHUNK = 64 * 1024;
/** Free space a recording needs on the berth home's filesystem to start: 512 MiB, or 5% of a smaller filesystem. */
const MIN_FREE_BYTES = 512 * 1024 ** 2;

/** Refuses (throws) when the berth home's filesystem is nearly full: recordings never fill the disk the state file is on. */
async function enoughRoom(home: string): Promise<void> {
  const fs = await statfs(recordingsDir(home));
  const free = fs.bavail * fs.bsize;
  const need = Math.min(MIN_FREE_BYTES, 0.05 * fs.blocks * fs.bsize);
  if (free < need) throw new Error(`only ${free} bytes free where recordings are kept (under ${Math.round(need)})`);
}

/** The host's recordings are pruned (retention, total cap) at most this often when sessions start. */
const PRUNE_EVERY_MS = 60_000;

export interface RecordingRequest {
  /** The session's id: the recording's name. */
  id: string;
  login: string;
  userId: string;
  /** USER/VM. */
  vm: string;
  via: 'ssh' | 'web' | 'chat';
  /** The command of an `ssh -t CMD` session; none for a shell. */
  command?: string;
  term: string;
  cols: number;
  rows: number;
  mode: Exclude<RecordMode, 'off'>;
  config: ConfigValues;
}

/** One session's recording, fed by the relay that carries its bytes; no call ever waits. */
export interface SessionRecording {
  readonly id: string;
  output(chunk: Buffer): void;
  input(chunk: Buffer): void;
  resize(cols: number, rows: number): void;
  marker(label: string): void;
  /** Ends the file (what is queued written); never throws. */
  close(): Promise<CastStats | null>;
}

/**
 * The daemon's session recorder: makes each recording (a file of its own under the berth home,
 * named by the session id, 0600), keeps the set being written (never pruned), prunes the rest
 * (sessions.record-keep, sessions.record-max), counts in the metrics. A recording that cannot be
 * made or written (a full disk) is logged and left off: the session never waits on it or ends by it.
 */
export class Recorder {
  private readonly active = new Set<string>();
  private lastPrune = 0;
  private pruning: Promise<unknown> | null = null;

  constructor(private readonly deps: { home: string; log: pino.Logger; metrics: RecordingMetrics }) {}

  async start(request: RecordingRequest): Promise<SessionRecording | null> {
    const { log, metrics, home } = this.deps;
    const { config } = request;
    if (Date.now() - this.lastPrune > PRUNE_EVERY_MS) void this.prune(config);
    const header: Omit<CastHeader, 'version'> = {
      width: request.cols,
      height: request.rows,
      timestamp: Date.now() / 1000,
      ...(request.command !== undefined ? { command: request.command } : {}),
      title: `${request.vm} (${request.via})`,
      env: { TERM: request.term, SHELL: '/bin/bash' },
      berth: {
        session: request.id,
        user: request.login,
        userId: request.userId,
        vm: request.vm,
        via: request.via,
        input: request.mode === 'output+input',
      },
    };
    let writer: CastWriter;
    // Counted as being written before its file exists: a prune in between never deletes it.
    this.active.add(request.id);
    try {
      // A disk that does not answer holds the session's start up to START_MS, then it goes on unrecorded.
      writer = await withDeadline(START_MS, 'start the session recording', async (signal) => {
        await ensureRecordingsDir(home);
        await enoughRoom(home);
        const made = await CastWriter.create(recordingPath(home, request.id), header, {
          maxQueuedBytes: MAX_QUEUED_BYTES,
          maxFileBytes: config['sessions.record-size'],
          input: request.mode === 'output+input',
          onWrite: (bytes) => metrics.bytes.inc(bytes),
          onDrop: (frames) => metrics.droppedFrames.inc(frames),
        });
        // Made after the deadline: closed at once (the session went on unrecorded).
        if (signal.aborted) {
          await made.close();
          throw new Error('the recording was made too late');
        }
        return made;
      });
    } catch (err) {
      this.active.delete(request.id);
      metrics.recordings.inc({ via: request.via, end: 'not-started' });
      log.warn(
        { id: request.id, user: request.login, err: String(err) },
        'session recording could not start; the session goes on unrecorded',
      );
      return null;
    }
    let closing: Promise<CastStats | null> | null = null;
    const close = async (): Promise<CastStats | null> => {
      try {
        const stats = await writer.close();
        metrics.recordings.inc({ via: request.via, end: stats.stopped ?? 'complete' });
        if (stats.stopped === 'error')
          log.warn({ id: request.id, user: request.login }, 'session recording stopped: its file could not be written');
        return stats;
      } catch (err) {
        log.warn({ id: request.id, err: String(err) }, 'session recording did not close cleanly');
        return null;
      } finally {
        this.active.delete(request.id);
      }
    };
    return {
      id: request.id,
      output: (chunk) => writer.output(chunk),
      input: (chunk) => writer.input(chunk),
      resize: (cols, rows) => {
        if (cols > 0 && rows > 0) writer.resize(cols, rows);
      },
      marker: (label) => writer.marker(label),
      // The session's end (and its audit line) waits for the file at most CLOSE_MS; the rest is written after.
      close: () => {
        closing ??= close();
        return Promise.race([closing, new Promise<null>((resolve) => setTimeout(() => resolve(null), CLOSE_MS).unref())]);
      },
    };
  }

  /**
   * A finished command's output (chat /exec) as a recording of its own: the command in the
   * header, its output, a marker with its exit status. The recording's id, or null when it could
   * not be made.
   */
  async recordRun(
    request: Omit<RecordingRequest, 'term' | 'cols' | 'rows'>,
    output: Buffer,
    exitCode: number | null,
  ): Promise<string | null> {
    const recording = await this.start({ ...request, term: 'dumb', cols: 80, rows: 24 });
    if (!recording) return null;
    // Captured without a terminal: its line ends made a terminal's, as it would have shown them;
    // in pieces, each well within the writer's queue.
    const text = Buffer.from(output.toString('utf8').replace(/\r?\n/g, '\r\n'));
    for (let at = 0; at < text.length; at += RUN_CHUNK) recording.output(text.subarray(at, at + RUN_CHUNK));
    recording.marker(exitCode === null ? 'berth: the command did not report an exit code' : `berth: exit code ${exitCode}`);
    await recording.close();
    return recording.id;
  }

  /** Deletes recordings past sessions.record-keep, then the oldest past sessions.record-max; never one being written. */
  prune(config: ConfigValues): Promise<unknown> {
    this.lastPrune = Date.now();
    this.pruning ??= pruneRecordings(this.deps.home, {
      maxTotalBytes: config['sessions.record-max'],
      keepSeconds: config['sessions.record-keep'],
      active: this.active,
    })
      .then((deleted) => {
        if (deleted.length > 0)
          this.deps.log.info({ deleted: deleted.length, ids: deleted.slice(0, 20) }, 'old session recordings deleted');
        return deleted;
      })
      .catch((err) => this.deps.log.warn({ err: String(err) }, 'pruning session recordings failed'))
      .finally(() => {
        this.pruning = null;
      });
    return this.pruning;
  }
}
