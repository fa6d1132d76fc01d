// `lxssd token` and `lxssd open`: ask a running service for a token, or a dashboard login code, over its local
// socket, where the kernel vouches for us.

import { request } from 'node:http';
import { ConfigError } from './config.js';

interface TokenOptions {
  label?: string;
  expiresInSeconds?: number;
}

function post(socketPath: string, body: string, path = '/v1/tokens'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        path,
        method: 'POST',
        headers: { host: 'localhost', 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Mints a token through the first socket that answers; returns the secret. */
export async function requestToken(socketPaths: string[], options: TokenOptions): Promise<string> {
  const body = JSON.stringify({ label: options.label ?? 'lxssd token', expiresInSeconds: options.expiresInSeconds });
  return ((await askFirstSocket(socketPaths, '/v1/tokens', body)) as { token: string }).token;
}

/** Mints a one-time dashboard login code; returns the dashboard URL that carries it. */
export async function requestLoginUrl(socketPaths: string[]): Promise<string> {
  return ((await askFirstSocket(socketPaths, '/v1/login-codes', '{}')) as { url: string }).url;
}

async function askFirstSocket(socketPaths: string[], path: string, body: string): Promise<unknown> {
  const failures: string[] = [];
  for (const socketPath of socketPaths) {
    let response: { status: number; text: string };
    try {
      response = await post(socketPath, body, path);
    } catch (error) {
      failures.push(`${socketPath}: ${(error as Error).message}`);
      continue;
    }
    if (response.status !== 201) {
      let detail = response.text;
      try {
        detail = (JSON.parse(response.text) as { detail?: string }).detail ?? detail;
      } catch {
        // not JSON: show it as it came
      }
      throw new Error(`the service refused (${response.status}): ${detail}`);
    }
    return JSON.parse(response.text) as unknown;
  }
  throw new ConfigError(`no lxssd answers on ${failures.join('; ')}`);
}
