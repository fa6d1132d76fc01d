// What a refused request says, for any client (lxss, the dashboard): the problem+json's `code` and `detail`, or,
// for an answer that is not a problem document, `HTTP_<status>` and what the body or status says.

export interface ProblemSummary {
  status: number;
  code: string;
  detail: string;
}

/** From an already parsed body (anything; a problem document when it is one). */
export function problemFromBody(status: number, body: unknown, text = ''): ProblemSummary {
  const problem = (typeof body === 'object' && body !== null ? body : {}) as { code?: unknown; detail?: unknown; title?: unknown };
  const code = typeof problem.code === 'string' ? problem.code : `HTTP_${status}`;
  const detail =
    typeof problem.detail === 'string'
      ? problem.detail
      : typeof problem.title === 'string'
        ? problem.title
        : text.trim().slice(0, 500) || `the service answered ${status}`;
  return { status, code, detail };
}

/** From the body's text, JSON or not. */
export function problemFromText(status: number, text: string): ProblemSummary {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return problemFromBody(status, body, text);
}

/** From a response whose body has not been read yet. */
export async function problemFromResponse(response: Response): Promise<ProblemSummary> {
  return problemFromText(response.status, await response.text().catch(() => ''));
}
