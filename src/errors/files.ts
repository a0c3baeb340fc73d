/** Errors of files sent to and fetched from a VM (the bot's /upload and /download), and of archives users send. */
export const FILES_ERRORS = {
  INVALID_FILE_NAME: 'The name of the file sent is not a usable file name: rename it and send it again.',
  PATH_NOT_FOUND: 'There is no such file or folder in the VM (paths are relative to the home): check with /exec ls.',
  NOT_A_FILE: 'The path is neither a regular file nor a folder: download a file or a folder.',
  PERMISSION_DENIED: "The VM's user may not read that file, so it cannot be downloaded.",
  FILE_TOO_LARGE: 'The file is larger than the Bot API lets a bot send or fetch: use scp or sftp through the SSH gateway (/ssh).',
  UPLOAD_FAILED: 'The file could not be written in the VM: check that the folder exists and is yours.',
  DOWNLOAD_FAILED: 'The file could not be read in the VM: check the path with /exec ls -la.',
  ARCHIVE_UNREADABLE: 'The archive is not a tar.gz, tar or zip, or is damaged: make it again (tar czf app.tar.gz -C folder .) and send it.',
  ARCHIVE_UNSAFE:
    'The archive holds an entry that would land outside its folder (an absolute path, "..", a link out, a device) or more than the limits allow: the message names it; nothing was unpacked.',
} as const;
