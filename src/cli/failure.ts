// What lxss itself failed at (no server, a refusal, bad usage): printed as `lxss: CODE: detail` on stderr, and
// the exit status is 255, wsl.exe's -1 — never a code a process in the distribution could have given.

import { problemFromBody, problemFromResponse } from '../client/problem.js';

export const LXSS_FAILURE_EXIT = 255;

export class CliFailure extends Error {
  constructor(
    readonly code: string,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}

/** A failure from an HTTP answer that is not a success: its problem+json when it is one, else its status. */
export function failureFromAnswer(status: number, body: unknown, text?: string): CliFailure {
  const { code, detail } = problemFromBody(status, body, text);
  return new CliFailure(code, detail);
}

/** A failure from a response whose body has not been read yet. */
export async function failureFromResponse(response: Response): Promise<CliFailure> {
  const { code, detail } = await problemFromResponse(response);
  return new CliFailure(code, detail);
}
