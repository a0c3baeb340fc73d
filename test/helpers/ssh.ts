/**
 * The OpenSSH client options every gateway test uses: this key only, no host key prompts or
 * files, no passwords, errors only. The caller's options come first (ssh keeps the first value).
 */
export function sshClientOptions(port: number, keyFile: string, extra: string[] = []): string[] {
  return [
    ...extra,
    '-p',
    String(port),
    '-i',
    keyFile,
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'ConnectTimeout=20',
  ];
}
