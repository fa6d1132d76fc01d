// The word verbs of today's tools, each spelled as the wsl.exe flags it stands for (`lxss list -v` is
// `lxss -l -v`); `token` and `completion` are lxss's own subcommands.

export const ALIASES: Readonly<Record<string, readonly string[]>> = {
  list: ['-l'],
  run: [],
  import: ['--import'],
  export: ['--export'],
  unregister: ['--unregister'],
  terminate: ['-t'],
  shutdown: ['--shutdown'],
  status: ['--status'],
  'set-default': ['-s'],
  version: ['--version'],
  help: ['--help'],
};

export const SUBCOMMANDS = ['token', 'completion'] as const;

/** Every word lxss takes in first place as a verb (what completion offers there). */
export const VERBS: readonly string[] = [...Object.keys(ALIASES), ...SUBCOMMANDS];
