// Shell completion for lxss: flags, the alias verbs, and distribution names (asked of the server as you type,
// through `lxss -l -q`, so they are always current).

import { VERBS } from './aliases.js';

const FLAGS = [
  '-d', '--distribution', '--distribution-id', '-u', '--user', '--cd', '--shell-type', '-e', '--exec',
  '-l', '--list', '--all', '--running', '-q', '--quiet', '-v', '--verbose', '--json',
  '--import', '--export', '--format', '--unregister', '-t', '--terminate', '--shutdown', '-s', '--set-default',
  '--manage', '--set-default-user', '--move', '--status', '--version', '-h', '--help',
];
/** Flags (and verbs) whose next word is a distribution name. */
const TAKES_DISTRIBUTION = ['-d', '--distribution', '--unregister', '-t', '--terminate', '-s', '--set-default', '--manage', '--export', 'unregister', 'terminate', 'set-default', 'export'];

export function bashCompletion(): string {
  return `# bash completion for lxss: eval "$(lxss completion bash)" (or save it under ~/.local/share/bash-completion/completions/lxss)
_lxss() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=
  [ "$COMP_CWORD" -gt 0 ] && prev=\${COMP_WORDS[COMP_CWORD-1]}
  case "$prev" in
    ${TAKES_DISTRIBUTION.join('|')})
      local names
      names=$(lxss -l -q 2>/dev/null)
      COMPREPLY=($(compgen -W "$names" -- "$cur"))
      return ;;
    --shell-type) COMPREPLY=($(compgen -W "login standard none" -- "$cur")); return ;;
    --format) COMPREPLY=($(compgen -W "tar tar.gz tar.xz" -- "$cur")); return ;;
    --cd|--move) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    completion) COMPREPLY=($(compgen -W "bash zsh" -- "$cur")); return ;;
    token) COMPREPLY=($(compgen -W "save forget" -- "$cur")); return ;;
  esac
  if [ "$COMP_CWORD" -eq 1 ] && [[ "$cur" != -* ]]; then
    COMPREPLY=($(compgen -W "${VERBS.join(' ')}" -- "$cur"))
  elif [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "${FLAGS.join(' ')}" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _lxss lxss
`;
}

export function zshCompletion(): string {
  return `#compdef lxss
# zsh completion for lxss: eval "$(lxss completion zsh)" after compinit (or save it as _lxss on your fpath)
_lxss() {
  local cur=\${words[CURRENT]} prev=\${words[CURRENT-1]}
  case "$prev" in
    ${TAKES_DISTRIBUTION.join('|')})
      compadd -- \${(f)"$(lxss -l -q 2>/dev/null)"}
      return ;;
    --shell-type) compadd login standard none; return ;;
    --format) compadd tar tar.gz tar.xz; return ;;
    --cd|--move) _directories; return ;;
    completion) compadd bash zsh; return ;;
    token) compadd save forget; return ;;
  esac
  if (( CURRENT == 2 )) && [[ "$cur" != -* ]]; then
    compadd ${VERBS.join(' ')}
  elif [[ "$cur" == -* ]]; then
    compadd -- ${FLAGS.join(' ')}
  else
    _files
  fi
}
compdef _lxss lxss
`;
}
