// `lxssd token`: asks a running service for a token over its local socket, where the kernel vouches for us.

import { request } from 'node:http';
import { ConfigError } from './config.js';

interface TokenOptions {
  label?: string;
  expiresInSeconds?: number;
}

function post(socketPath: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        path: '/v1/tokens',
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
  const failures: string[] = [];
  for (const socketPath of socketPaths) {
    let response: { status: number; text: string };
    try {
      response = await post(socketPath, body);
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
    return (JSON.parse(response.text) as { token: string }).token;
  }
  throw new ConfigError(`no lxssd answers on ${failures.join('; ')}`);
}
