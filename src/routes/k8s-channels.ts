// Kubernetes' exec channel protocols, v5.channel.k8s.io and v4.channel.k8s.io, as the stdio WebSocket speaks
// them: reading a client's frames and writing the metav1.Status a kubelet ends with. Pure frames: no socket and
// no process here (src/routes/stdio.ts acts on what this decodes).
//
// The wire, as kubelet and client-go frame it: every binary frame starts with a channel byte, 0 stdin (client
// → server), 1 stdout, 2 stderr, 3 the error channel (one JSON metav1.Status, after the last output byte), 4
// resize (client → server, JSON TerminalSize {"Width":W,"Height":H}, field names matched as Go's encoding/json
// matches them, ignoring case). v5 adds the CLOSE signal: [255, channel] half-closes that channel
// ([255, 0] is stdin EOF). Like kubelet's wsstream, frames for a channel a client cannot write (1, 2, 3, past
// 4) and empty frames are dropped; a CLOSE signal that is not two bytes, or names no channel, breaks the protocol.

import { LxssError } from '../core/errors.js';

export const K8S_V5_PROTOCOL = 'v5.channel.k8s.io';
export const K8S_V4_PROTOCOL = 'v4.channel.k8s.io';
export const K8S_PROTOCOLS = [K8S_V5_PROTOCOL, K8S_V4_PROTOCOL] as const;
export type K8sProtocol = (typeof K8S_PROTOCOLS)[number];

export function isK8sProtocol(protocol: string): protocol is K8sProtocol {
  return (K8S_PROTOCOLS as readonly string[]).includes(protocol);
}

export const K8sChannel = {
  Stdin: 0,
  Stdout: 1,
  Stderr: 2,
  Status: 3,
  Resize: 4,
  /** v5's CLOSE signal; the next byte names the channel */
  Close: 255,
} as const;

/** The channels a kubelet opens (0..4): a CLOSE signal must name one of them. */
const CHANNEL_COUNT = 5;
/** Our terminal's largest side (TerminalSize in processes.schemas.ts); a k8s size is a uint16, so larger ones are clamped. */
const MAX_SIDE = 4096;
const UINT16_MAX = 0xffff;

/** What a client's frame asks for. */
export type K8sClientFrame =
  | { kind: 'stdin'; data: Buffer }
  | { kind: 'stdin-eof' }
  | { kind: 'resize'; cols: number; rows: number }
  /** nothing to do: a frame kubelet drops too (`why` says which) */
  | { kind: 'ignored'; why: string };

function invalid(detail: string): LxssError {
  return new LxssError('E_INVALIDARG', detail);
}

/**
 * The value of `name` in a JSON object as Go's encoding/json fills a struct field: every key equal to it
 * ignoring case sets it, so of several the last one wins.
 */
function goField(object: Record<string, unknown>, name: string): unknown {
  let found: unknown;
  for (const [key, value] of Object.entries(object)) if (key.toLowerCase() === name.toLowerCase()) found = value;
  return found;
}

/** A uint16 as Go decodes one: a missing field or null is 0; anything but an integer 0..65535 is an error. */
function uint16(value: unknown, name: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > UINT16_MAX) {
    throw invalid(`channel 4 takes {"Width":W,"Height":H} with integers 0..65535; ${name} is ${JSON.stringify(value)}`);
  }
  return value;
}

function decodeResize(payload: Buffer): K8sClientFrame {
  let size: unknown;
  try {
    size = JSON.parse(payload.toString('utf8'));
  } catch {
    throw invalid('channel 4 takes JSON {"Width":W,"Height":H}');
  }
  if (typeof size !== 'object' || size === null || Array.isArray(size)) throw invalid('channel 4 takes a JSON object {"Width":W,"Height":H}');
  const width = uint16(goField(size as Record<string, unknown>, 'Width'), 'Width');
  const height = uint16(goField(size as Record<string, unknown>, 'Height'), 'Height');
  // A zero side is no size a terminal can take (a client that does not know its size sends zeros): keep the one it has.
  if (width === 0 || height === 0) return { kind: 'ignored', why: 'a terminal size with a zero side' };
  return { kind: 'resize', cols: Math.min(width, MAX_SIDE), rows: Math.min(height, MAX_SIDE) };
}

/** Decodes one client frame (text frames as their UTF-8 bytes); throws E_INVALIDARG for one that breaks the protocol. */
export function decodeClientFrame(protocol: K8sProtocol, frame: Buffer): K8sClientFrame {
  if (frame.length === 0) return { kind: 'ignored', why: 'an empty frame' };
  const channel = frame[0]!;
  if (channel === K8sChannel.Close && protocol === K8S_V5_PROTOCOL) {
    if (frame.length !== 2) throw invalid(`the CLOSE signal (255) takes one channel byte; this one has ${frame.length - 1}`);
    const closed = frame[1]!;
    if (closed >= CHANNEL_COUNT) throw invalid(`the CLOSE signal names channel ${closed}; the channels are 0..4`);
    if (closed === K8sChannel.Stdin) return { kind: 'stdin-eof' };
    return { kind: 'ignored', why: `closing channel ${closed}, which the client does not write` };
  }
  switch (channel) {
    case K8sChannel.Stdin:
      return frame.length === 1 ? { kind: 'ignored', why: 'no stdin bytes' } : { kind: 'stdin', data: frame.subarray(1) };
    case K8sChannel.Resize:
      return decodeResize(frame.subarray(1));
    default:
      return { kind: 'ignored', why: `channel ${channel} is not one a client writes` };
  }
}

/** metav1.Status as kubelet marshals it on the error channel (Go's field order, empty fields left out). */
export interface K8sStatus {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: 'NonZeroExitCode';
  details?: { causes: Array<{ reason: 'ExitCode'; message: string }> };
}

/**
 * The status for an exit: Success for 0; else Failure, reason NonZeroExitCode, the code (in ExitStatus's
 * convention, src/hv/types.ts, which container runtimes share) as the ExitCode cause, and the message kubelet
 * writes over a CRI runtime's error.
 */
export function exitStatus(exitCode: number, argv: readonly string[]): K8sStatus {
  if (exitCode === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${argv.join(' ')}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/** The error-channel frame carrying `status`. */
export function statusFrame(status: K8sStatus): Buffer {
  return Buffer.concat([Buffer.of(K8sChannel.Status), Buffer.from(JSON.stringify(status))]);
}

/** An output frame: the channel byte, then the bytes. */
export function outputFrame(channel: 1 | 2, data: Buffer): Buffer {
  return Buffer.concat([Buffer.of(channel), data]);
}

/**
 * The empty stdout frame kubelet sends as soon as the socket is open, telling the client the streams are set
 * up (clients skip empty frames).
 */
export const READY_FRAME: Buffer = Buffer.of(K8sChannel.Stdout);
