// The one place errors become responses: every error, ours or Fastify's, leaves as application/problem+json
// with a stable code; 5xx internals are logged, never shown.

import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ERROR_TABLE, type ErrorCode, LxssError } from '../../core/errors.js';

function problem(reply: FastifyReply, code: ErrorCode, detail: string, extra: Record<string, unknown> = {}) {
  const { status, title } = ERROR_TABLE[code];
  if (typeof extra.retryAfter === 'number') reply.header('retry-after', String(extra.retryAfter));
  if (status === 401) reply.header('www-authenticate', 'Bearer realm="lxssd"');
  return reply
    .code(status)
    .type('application/problem+json')
    .send({ type: `urn:lxssd:problem:${code}`, title, status, detail, code, ...extra });
}

type ValidationIssue = NonNullable<FastifyError['validation']>[number];

/**
 * One line per field: a union's branches each report their own failure and then the union fails too, which
 * reads as noise ("must be equal to constant" thrice); they become one "must be one of: a, b, c" or "must be X
 * or Y".
 */
function mergeUnionIssues(issues: ValidationIssue[]): ValidationIssue[] {
  const unions = issues.filter((issue) => issue.keyword === 'anyOf' || issue.keyword === 'oneOf');
  if (unions.length === 0) return issues;
  const branchOf = (issue: ValidationIssue, union: ValidationIssue) =>
    issue !== union && issue.schemaPath.startsWith(`${union.schemaPath}/`);
  const merged: ValidationIssue[] = [];
  for (const issue of issues) {
    if (unions.some((union) => branchOf(issue, union))) continue;
    if (!unions.includes(issue)) {
      merged.push(issue);
      continue;
    }
    const branches = issues.filter((other) => branchOf(other, issue));
    const allowed = branches.map((branch) => (branch.params as { allowedValue?: unknown }).allowedValue);
    const message = branches.every((branch) => branch.keyword === 'const')
      ? `must be one of: ${allowed.map((value) => String(value)).join(', ')}`
      : [...new Set(branches.map((branch) => branch.message))].join(' or ');
    merged.push({ ...issue, message: message || issue.message });
  }
  return merged;
}

function validationProblem(error: FastifyError, reply: FastifyReply) {
  const errors = mergeUnionIssues(error.validation ?? []).map((issue) => {
    const where = error.validationContext ?? 'request';
    const missing = (issue.params as { missingProperty?: string }).missingProperty;
    const extra = (issue.params as { additionalProperty?: string }).additionalProperty;
    const path = issue.instancePath.replace(/^\//, '').replaceAll('/', '.');
    const field = [where, path, missing ?? extra].filter(Boolean).join('.');
    const message = extra ? `is not a known field` : (issue.message ?? 'is invalid');
    return { field, message };
  });
  const detail = errors.map((e) => `${e.field} ${e.message}`).join('; ') || error.message;
  return problem(reply, 'E_INVALIDARG', detail, { errors });
}

/** Names the type that was sent and the ones the route takes (a body schema keyed by media type, else JSON). */
function unsupportedMediaDetail(request: FastifyRequest): string {
  const sent = request.headers['content-type'] ?? 'none';
  const body = request.routeOptions.schema?.body as { content?: Record<string, unknown> } | undefined;
  const accepted = body?.content ? Object.keys(body.content) : ['application/json'];
  return `a body of type ${sent} is not accepted here; send ${accepted.join(' or ')}`;
}

function toProblem(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof LxssError) {
    if (error.status >= 500) request.log.error({ err: error }, 'request failed');
    // A 500 is a failure of ours whose detail may hold internals; 503 and 507 details are written for the caller.
    return problem(reply, error.code, error.status === 500 ? 'internal error; see the service log' : error.detail, error.extra);
  }
  if (error.validation) return validationProblem(error, reply);
  switch (error.statusCode) {
    case 413:
      return problem(reply, 'LXSSD_E_PAYLOAD_TOO_LARGE', error.message);
    case 415:
      return problem(reply, 'LXSSD_E_UNSUPPORTED_MEDIA_TYPE', unsupportedMediaDetail(request));
    case 503:
      return problem(reply, 'LXSSD_E_SHUTTING_DOWN', error.message);
  }
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return problem(reply, 'E_INVALIDARG', error.message);
  }
  request.log.error({ err: error }, 'request failed');
  return problem(reply, 'E_UNEXPECTED', `internal error; see the service log (request ${request.id})`);
}

async function problemDetails(app: FastifyInstance): Promise<void> {
  app.setErrorHandler(toProblem);
  app.setNotFoundHandler((request, reply) =>
    problem(reply, 'ERROR_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`),
  );
}

export default fp(problemDetails, { name: 'lxssd-problem-details' });
