/** Errors of the front-ends themselves: the command line, the TUI and chat commands. */
export const CLI_ERRORS = {
  USAGE:
    'The command was given wrong or missing arguments or flags (exit code 2): see its `--help`, or in the bot the usage line of the reply.',
  INTERNAL: 'Something failed that berth did not expect: run the command again with BERTH_DEBUG=1 to see where, and report it.',
  CONFIRMATION_REQUIRED:
    'The action cannot be undone and no terminal is there to confirm it: pass the flag the hint names (usually `--yes`).',
  NOT_CONFIRMED: 'The confirmation typed did not match, so nothing was changed: type the name exactly, or pass the flag.',
  NO_INPUT: 'The command reads a value from stdin and nothing came: pipe the value in, or run it in a terminal to be asked.',
  NOT_A_TERMINAL:
    'The command needs a terminal (`berth tui`, `berth vm shell`) and its input or output is a pipe or file: run it in a terminal, or use the `--json` and `vm exec` commands.',
  TERMINAL_TOO_PLAIN:
    '`berth tui` needs a terminal with colours and cursor movement (TERM is `dumb` or unset): run it in a terminal emulator or tmux.',
  FILE_UNREADABLE: 'A file named on the command line (e.g. `--file` of `berth user key add`) cannot be read: check the path.',
} as const;
