import pino from 'pino';
import type { RotatingLogFile } from './log-file.js';

/**
 * JSON lines (pretty in a terminal), with secrets redacted wherever they appear; to `file`
 * when given (the background daemon: rotated by size), else to stdout (systemd's journal).
 */
export function createLogger(level: string, pretty: boolean, file?: RotatingLogFile): pino.Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { pid: process.pid },
    redact: {
      paths: ['token', '*.token', 'secret', '*.secret', 'password', '*.password', 'headers.authorization', '*.headers.authorization'],
      censor: '[redacted]',
    },
  };
  if (file) return pino(options, file);
  return pino({
    ...options,
    transport: pretty ? { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } } : undefined,
  });
}
