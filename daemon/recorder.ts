import type pino from 'pino';
import type { CastHeader } from '../src/domain/asciicast.js';
import { type CastStats, CastWriter } from '../src/host/cast-writer.js';
import { ensureRecordingsDir, pruneRecordings, recordingPath } from '../src/host/recordings.js';
import type { ConfigValues } from '../src/values/config-keys.js';
import type { RecordMode } from '../src/values/recording.js';
import type { RecordingMetrics } from './metrics.js';

/** Output waiting for the disk past this is dropped (and marked) rather than held. */
const MAX_QUEUED_BYTES = 4 * 1024 ** 2;
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
    try {
      await ensureRecordingsDir(home);
      writer = await CastWriter.create(recordingPath(home, request.id), header, {
        maxQueuedBytes: MAX_QUEUED_BYTES,
        maxFileBytes: config['sessions.record-size'],
        input: request.mode === 'output+input',
      });
    } catch (err) {
      metrics.recordings.inc({ via: request.via, end: 'not-started' });
      log.warn(
        { id: request.id, user: request.login, err: String(err) },
        'session recording could not start; the session goes on unrecorded',
      );
      return null;
    }
    this.active.add(request.id);
    let closing: Promise<CastStats | null> | null = null;
    const close = async (): Promise<CastStats | null> => {
      try {
        const stats = await writer.close();
        metrics.bytes.inc(stats.bytesWritten);
        metrics.droppedFrames.inc(stats.droppedFrames);
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
      close: () => {
        closing ??= close();
        return closing;
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
    // Captured without a terminal: its line ends made a terminal's, as it would have shown them.
    recording.output(Buffer.from(output.toString('utf8').replace(/\r?\n/g, '\r\n')));
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
