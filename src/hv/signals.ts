// The guest's signal numbers: every distribution runs Linux, whatever the host is, so a signal crosses the hv
// contract as its number in Linux's table (x86_64 and aarch64 share it), never as the host's `os.constants`.

/** Linux's standard signals by name (signal(7)). */
export const GUEST_SIGNALS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGIOT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPOLL: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

/** glibc keeps 32 and 33 for itself, so the real-time signals a program sees run from 34 to 64. */
export const GUEST_SIGRTMIN = 34;
export const GUEST_SIGRTMAX = 64;

/** SIGKILL, SIGTERM, ...: the ones the service itself sends. */
export const SIGKILL = GUEST_SIGNALS.SIGKILL!;
export const SIGTERM = GUEST_SIGNALS.SIGTERM!;

/**
 * A guest signal by name (`SIGTERM`, `term`, `SIGRTMIN+3` as `kill -l` writes them) or number (1 to 64);
 * undefined when it names none.
 */
export function guestSignal(signal: string | number): number | undefined {
  if (typeof signal === 'number') return Number.isInteger(signal) && signal > 0 && signal <= GUEST_SIGRTMAX ? signal : undefined;
  const upper = signal.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  return GUEST_SIGNALS[name] ?? realTimeSignal(name);
}

function realTimeSignal(name: string): number | undefined {
  const match = /^SIGRT(MIN|MAX)(?:([+-])(\d{1,2}))?$/.exec(name);
  if (!match) return undefined;
  const offset = Number(match[3] ?? 0) * (match[2] === '-' ? -1 : 1);
  const number = (match[1] === 'MIN' ? GUEST_SIGRTMIN : GUEST_SIGRTMAX) + offset;
  return number >= GUEST_SIGRTMIN && number <= GUEST_SIGRTMAX ? number : undefined;
}
