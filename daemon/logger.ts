import pino from 'pino';

/** JSON lines (pretty in a terminal), with secrets redacted wherever they appear. */
export function createLogger(level: string, pretty: boolean): pino.Logger {
  return pino({
    level,
    base: { pid: process.pid },
    redact: {
      paths: ['token', '*.token', 'secret', '*.secret', 'password', '*.password', 'headers.authorization', '*.headers.authorization'],
      censor: '[redacted]',
    },
    transport: pretty ? { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } } : undefined,
  });
}
