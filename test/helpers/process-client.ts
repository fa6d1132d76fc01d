// Clients of a test server's processes: tokens for TCP, and attaching to a process's stdio over a WebSocket.

import WebSocket from 'ws';
import { localRequest } from './local-client.js';
import type { TestServer } from './server.js';

/** A token for the test process's own user, or (as root) for `sid`. */
export async function tokenOf(server: Pick<TestServer, 'socketPath'>, sid?: string): Promise<string> {
  const response = await localRequest(server.socketPath, 'POST', '/v1/tokens', sid === undefined ? {} : { sid });
  if (response.status !== 201) throw new Error(`minting a token failed: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.token as string;
}

export interface Attached {
  frames: Array<{ channel: number; data: Buffer }>;
  closed: Promise<{ code: number; reason: string }>;
  socket: WebSocket;
  /** everything on a channel so far, as text */
  text(channel: number): string;
}

export async function attach(server: Pick<TestServer, 'port'>, token: string, id: string, protocol = 'lxss.stdio.v1'): Promise<Attached> {
  const socket = new WebSocket(`ws://127.0.0.1:${server.port}/v1/processes/${id}/stdio`, [protocol, `lxss.token.${token}`]);
  const frames: Attached['frames'] = [];
  socket.on('message', (data: Buffer) => {
    if (protocol === 'lxss.tty.v1') frames.push({ channel: 1, data });
    else frames.push({ channel: data[0]!, data: data.subarray(1) });
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const text = (channel: number) =>
    Buffer.concat(frames.filter((frame) => frame.channel === channel).map((frame) => frame.data)).toString();
  return { frames, closed, socket, text };
}

/** The HTTP status a refused WebSocket upgrade got. */
export function refusedUpgrade(url: string, protocols: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols);
    socket.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      socket.terminate();
    });
    socket.once('open', () => {
      socket.close();
      reject(new Error(`${url} accepted the upgrade`));
    });
    socket.once('error', () => undefined);
  });
}
