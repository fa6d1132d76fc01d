// GET /v1/processes/{id}/stdio: a process's stdio over a WebSocket, in one of two protocols (DESIGN.md §6).
//   lxss.stdio.v1 — binary frames, first byte the channel: 0 stdin, 1 stdout, 2 stderr, 3 exit status (JSON,
//     after the last output byte, then a normal close), 4 resize (JSON), 5 signal (JSON), 255 close a channel
//     (second byte: the channel; 0 is stdin EOF).
//   lxss.tty.v1 — raw terminal bytes both ways (text or binary frames in), the exit code in the close reason.
//   v5.channel.k8s.io / v4.channel.k8s.io — Kubernetes exec clients as kubelet serves them (k8s-channels.ts):
//     channels 0/1/2 as above, 3 a metav1.Status after the last output byte, 4 resize {"Width","Height"}, and
//     (v5) [255, 0] stdin EOF.
// Output waits for slow readers (the process is paused, never a byte dropped); one client at a time owns stdin,
// and another client's stdin is refused with a close code, never dropped unseen.

import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Value } from '@sinclair/typebox/value';
import type { FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { LxssError } from '../core/errors.js';
import type { OutputChunk, OutputCursor } from '../core/output-log.js';
import { type ProcessEntry, signalNumber, StdinRefused } from '../core/processes.js';
import { callerOf } from './caller.js';
import {
  decodeClientFrame,
  exitStatus,
  isK8sProtocol,
  K8S_V4_PROTOCOL,
  K8S_V5_PROTOCOL,
  type K8sProtocol,
  READY_FRAME,
  statusFrame,
} from './k8s-channels.js';
import { problemResponses } from './problem.schemas.js';
import { ProcessParams, SignalBody, TerminalSize } from './processes.schemas.js';
import { holdStreamSlot } from './stream-slots.js';
import { pickSubprotocol } from './subprotocols.js';
import { closeWhenTokenEnds } from './token-lifetime.js';
import { asyncapiChannels, ASYNCAPI_DOCUMENT, switchingProtocols } from './upgrade.schemas.js';

export const STDIO_PROTOCOL = 'lxss.stdio.v1';
export const TTY_PROTOCOL = 'lxss.tty.v1';
/** What this endpoint speaks; a client offering several gets the first of its own list that is here. */
export const SPOKEN = [STDIO_PROTOCOL, TTY_PROTOCOL, K8S_V5_PROTOCOL, K8S_V4_PROTOCOL] as const;
/** The AsyncAPI channel (openapi/asyncapi.yaml) of each protocol spoken here. */
export const STDIO_CHANNELS: Record<(typeof SPOKEN)[number], string> = {
  [STDIO_PROTOCOL]: 'stdio',
  [TTY_PROTOCOL]: 'tty',
  [K8S_V5_PROTOCOL]: 'k8sV5',
  [K8S_V4_PROTOCOL]: 'k8sV4',
};
/** How a socket's frames are read and written: one per protocol (the k8s ones by their name). */
type Mode = 'stdio' | 'tty' | K8sProtocol;
/** Close code for a frame that breaks the protocol (RFC 6455: data inconsistent with the message type). */
const INVALID_FRAME = 1007;
/** Close code for stdin this client may not write (another client writes it, or it is closed): 409's kin. */
const STDIN_REFUSED = 4409;
/** Close code for a failure of ours (RFC 6455: internal error). */
const INTERNAL_ERROR = 1011;
/** Output bytes handed to a client's socket but not yet taken by it, before the pump waits. */
const OUTPUT_HIGH_WATER = 1 << 20;
/**
 * The most output one frame carries: chunks of one channel that are already waiting (each one read of the
 * process's pipe, at most 64 KiB) go out together, so a busy stream costs one send per frame, not per read.
 */
const OUTPUT_FRAME_BYTES = 256 << 10;
/** Client frames received and not yet handled (stdin the process has not taken), before the socket stops reading. */
const INPUT_HIGH_WATER = 1 << 20;

const enum Channel {
  Stdin = 0,
  Stdout = 1,
  Stderr = 2,
  Exit = 3,
  Resize = 4,
  Signal = 5,
  Close = 255,
}

function send(socket: WebSocket, data: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => socket.send(data, (error) => (error ? reject(error) : resolve())));
}

function ignoreSendError(): void {}

function invalidFrame(detail: string): LxssError {
  return new LxssError('E_INVALIDARG', detail);
}

function parseJson(frame: Buffer): unknown {
  try {
    return JSON.parse(frame.subarray(1).toString('utf8'));
  } catch {
    throw invalidFrame(`channel ${frame[0]} takes JSON`);
  }
}

/** Stdin that arrives after the process exited is dropped; stdin the client may not write throws. */
function dropLateStdin(error: unknown): void {
  if (error instanceof StdinRefused && error.reason !== 'exited') throw error;
}

/**
 * Client → server frames; each is handled in order (stdin writes wait for the process to take them).
 * A frame that breaks the protocol, or stdin this client may not write, throws; a frame the process can no
 * longer act on (it exited) is dropped.
 */
async function handleFrame(entry: ProcessEntry, owner: object, mode: Mode, data: Buffer): Promise<void> {
  if (mode === 'tty') {
    await entry.writeStdin(owner, data).catch(dropLateStdin);
    return;
  }
  if (mode !== 'stdio') {
    const frame = decodeClientFrame(mode, data);
    switch (frame.kind) {
      case 'stdin':
        await entry.writeStdin(owner, frame.data).catch(dropLateStdin);
        return;
      case 'stdin-eof':
        entry.closeStdin(owner);
        return;
      case 'resize':
        // A process without a terminal ignores resizes, as a container runtime does.
        await entry.resize(frame.cols, frame.rows).catch(() => undefined);
        return;
      case 'ignored':
        return;
    }
  }
  switch (data[0]) {
    case Channel.Stdin:
      await entry.writeStdin(owner, data.subarray(1)).catch(dropLateStdin);
      return;
    case Channel.Resize: {
      const size = parseJson(data);
      if (!Value.Check(TerminalSize, size)) throw invalidFrame('channel 4 takes {"cols":1..4096,"rows":1..4096}');
      await entry.resize(size.cols, size.rows).catch(() => undefined);
      return;
    }
    case Channel.Signal: {
      const body = parseJson(data);
      if (!Value.Check(SignalBody, body)) throw invalidFrame('channel 5 takes {"signal":"SIGTERM"} (a name or a number)');
      const signal = signalNumber(body.signal);
      await entry.signal(signal).catch(() => undefined);
      return;
    }
    case Channel.Close:
      if (data[1] !== Channel.Stdin) throw invalidFrame('channel 255 closes channel 0 (stdin) only');
      entry.closeStdin(owner);
      return;
    default:
      throw invalidFrame(data.length === 0 ? 'an empty frame has no channel' : `no channel ${data[0]} from a client`);
  }
}

/** Ends the socket for a frame it should not have sent; the reason is JSON a client can parse, within 123 bytes. */
function closeRefused(socket: WebSocket, error: unknown): void {
  const known = error instanceof LxssError;
  const code = known ? error.code : 'E_UNEXPECTED';
  const closeCode = error instanceof StdinRefused ? STDIN_REFUSED : code === 'E_INVALIDARG' ? INVALID_FRAME : INTERNAL_ERROR;
  const reason = (text: string) => JSON.stringify({ code, detail: text });
  let text = known ? error.detail : 'internal error; see the service log';
  while (Buffer.byteLength(reason(text)) > 123) text = text.slice(0, -1);
  socket.close(closeCode, reason(text));
}

/**
 * `first` and the chunks of its channel that follow it in the log right now (up to OUTPUT_FRAME_BYTES), taken
 * from the cursor and copied once into one frame: the channel byte first, except in the tty protocol.
 */
function nextFrame(cursor: OutputCursor, first: OutputChunk, mode: Mode): Buffer {
  const header = mode === 'tty' ? 0 : 1;
  const parts = [first.data];
  let bytes = header + first.data.length;
  for (let next = cursor.peek(); next?.channel === first.channel; next = cursor.peek()) {
    if (bytes + next.data.length > OUTPUT_FRAME_BYTES) break;
    parts.push(cursor.read()!.data);
    bytes += next.data.length;
  }
  if (header === 0 && parts.length === 1) return first.data;
  const frame = Buffer.allocUnsafe(bytes);
  if (header === 1) frame[0] = first.channel;
  let offset = header;
  for (const part of parts) offset += part.copy(frame, offset);
  return frame;
}

async function pumpOutput(entry: ProcessEntry, socket: WebSocket, mode: Mode): Promise<void> {
  const cursor = entry.output.attach();
  const closed = new AbortController();
  const stop = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closed.abort();
      resolve();
    }),
  );
  try {
    if (isK8sProtocol(mode)) send(socket, READY_FRAME).catch(() => undefined);
    // Done: the output ended, or the program exited and its output went quiet (a background child holding the
    // pipe does not keep the exit status from the client; what it writes later is not sent).
    for await (const chunk of cursor.chunks({ until: entry.done, signal: closed.signal })) {
      // What the rest of this turn reads from the pipe joins this frame: one send for all of it (a quarter of
      // the frames of a busy stream, and a fifth less CPU), for the cost of one turn of the event loop.
      if (cursor.peek() === undefined && !entry.output.ended) await setImmediatePromise();
      if (socket.readyState !== socket.OPEN) return;
      const frame = nextFrame(cursor, chunk, mode);
      // Several frames in flight keep the connection busy; past the high-water mark, wait for the client.
      if (socket.bufferedAmount + frame.length > OUTPUT_HIGH_WATER) await send(socket, frame);
      else socket.send(frame, ignoreSendError); // a failed send closes the socket, which ends this loop
    }
    const status = await Promise.race([entry.done, stop.then(() => undefined)]);
    if (!status || socket.readyState !== socket.OPEN) return;
    const exit = { exitCode: status.exitCode, signal: status.signal };
    if (mode === 'stdio') {
      const frame = Buffer.from(` ${JSON.stringify(exit)}`);
      frame[0] = Channel.Exit;
      await send(socket, frame);
      socket.close(1000, 'exited');
    } else if (mode === 'tty') {
      socket.close(1000, JSON.stringify({ exitCode: status.exitCode }));
    } else {
      await send(socket, statusFrame(exitStatus(status.exitCode, entry.argv)));
      socket.close(1000, 'exited');
    }
  } catch {
    socket.terminate();
  } finally {
    cursor.close();
  }
}

export const stdioRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const entryOf = async (request: FastifyRequest) => {
    const { id } = request.params as { id: string };
    return (await app.lxss.sessionOf(callerOf(request)).processes()).get(id);
  };

  app.route({
    method: 'GET',
    url: '/processes/:id/stdio',
    schema: {
      operationId: 'attachProcessStdio',
      tags: ['processes'],
      summary: `WebSocket: the process's stdio (${STDIO_PROTOCOL}, ${K8S_V5_PROTOCOL}, ${K8S_V4_PROTOCOL}) or terminal (${TTY_PROTOCOL}); see DESIGN.md §6`,
      description:
        `Upgrade with Sec-WebSocket-Protocol ${STDIO_PROTOCOL} (channel byte first: 0 stdin, 1 stdout, 2 stderr, ` +
        '3 exit status JSON then close, 4 resize JSON, 5 signal JSON, 255 close channel) or ' +
        `${TTY_PROTOCOL} (raw bytes; exit code in the close reason). Kubernetes exec clients attach unchanged with ` +
        `${K8S_V5_PROTOCOL} or ${K8S_V4_PROTOCOL}, framed as kubelet frames them: 0 stdin, 1 stdout, 2 stderr, ` +
        '3 the error channel (one JSON metav1.Status after the last output byte, then close: ' +
        '{"metadata":{},"status":"Success"} for exit 0, else status Failure, reason NonZeroExitCode and the code ' +
        '(128+N for signal N) in details.causes [{"reason":"ExitCode","message":"N"}]), 4 resize ' +
        '{"Width":W,"Height":H}, and in v5 only [255, 0] for stdin EOF; an empty stdout frame first says the ' +
        'streams are ready. Output from before you attach comes first. ' +
        'A browser may add the subprotocol lxss.token.<token>. A plain GET answers 426. A frame the protocol does not ' +
        'allow closes the socket with 1007 and a JSON reason {code, detail}; the process is untouched. One client ' +
        `at a time writes stdin: stdin from another, or to a process without stdin, closes with ${STDIN_REFUSED}. ` +
        `Every frame of each subprotocol is described in the AsyncAPI document at ${ASYNCAPI_DOCUMENT} (\`x-asyncapi\` names the channel of each).`,
      ...asyncapiChannels(STDIO_CHANNELS),
      params: ProcessParams,
      response: { ...switchingProtocols(`the process's stdio (${SPOKEN.join(', ')})`), ...problemResponses(400, 404, 409, 426) },
    },
    // Looked up before the upgrade, so an unknown or foreign process is a plain 404.
    preHandler: async (request, reply) => {
      await entryOf(request);
      if (request.ws) {
        pickSubprotocol(request, SPOKEN);
        holdStreamSlot(app, request, reply);
      }
    },
    handler: async () => {
      throw new LxssError('LXSSD_E_UPGRADE_REQUIRED', `connect with a WebSocket (${SPOKEN.join(', ')})`);
    },
    wsHandler: async (socket, request) => {
      const entry = await entryOf(request);
      const protocol = socket.protocol;
      const mode: Mode = protocol === TTY_PROTOCOL ? 'tty' : isK8sProtocol(protocol) ? protocol : 'stdio';
      const owner = {};
      let queue = Promise.resolve();
      let pending = 0;
      let pendingBytes = 0;
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        const frame = isBinary || mode === 'tty' ? data : Buffer.from(data.toString(), 'utf8');
        // Frames are handled one after another; while stdin is slow, stop reading the socket (so what one
        // client can make the service hold is about INPUT_HIGH_WATER plus one frame of maxPayload).
        pending++;
        pendingBytes += frame.length;
        if (pending > 8 || pendingBytes > INPUT_HIGH_WATER) socket.pause();
        queue = queue
          .then(() => (socket.readyState === socket.OPEN ? handleFrame(entry, owner, mode, frame) : undefined))
          .catch((error: unknown) => {
            if (!(error instanceof LxssError)) request.log.error({ err: error }, 'stdio frame failed');
            closeRefused(socket, error);
          })
          .finally(() => {
            pending--;
            pendingBytes -= frame.length;
            if (pending <= 8 && pendingBytes <= INPUT_HIGH_WATER) socket.resume();
          });
      });
      socket.on('close', () => entry.releaseStdin(owner));
      closeWhenTokenEnds(app, request, socket);
      await pumpOutput(entry, socket, mode);
    },
  });
};
