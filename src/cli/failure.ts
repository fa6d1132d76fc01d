// What lxss itself failed at (no server, a refusal, bad usage): printed as `lxss: CODE: detail` on stderr, and
// the exit status is 255, wsl.exe's -1 — never a code a process in the distribution could have given.

export const LXSS_FAILURE_EXIT = 255;

export class CliFailure extends Error {
  constructor(
    readonly code: string,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}

interface ProblemBody {
  code?: unknown;
  detail?: unknown;
  title?: unknown;
}

/** A failure from an HTTP answer that is not a success: its problem+json when it is one, else its status. */
export function failureFromAnswer(status: number, body: unknown, text?: string): CliFailure {
  const problem = (typeof body === 'object' && body !== null ? body : {}) as ProblemBody;
  const code = typeof problem.code === 'string' ? problem.code : `HTTP_${status}`;
  const detail =
    typeof problem.detail === 'string'
      ? problem.detail
      : typeof problem.title === 'string'
        ? problem.title
        : (text ?? '').trim().slice(0, 500) || `the service answered ${status}`;
  return new CliFailure(code, detail);
}

/** A failure from a response whose body has not been read yet. */
export async function failureFromResponse(response: Response): Promise<CliFailure> {
  const text = await response.text().catch(() => '');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return failureFromAnswer(response.status, body, text);
}
