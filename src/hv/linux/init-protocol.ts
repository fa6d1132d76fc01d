// Frame encoding/decoding of the lxssd-init protocol (docs/init-protocol.md), the Node twin of
// src/hv/linux/init/proto.c. Pure: no sockets, no descriptors; those live in init-channel.ts and fd-passing.ts.

/** The newest protocol version this side speaks (HELLO / HELLO_ACK); 2 added LAUNCH's `executable`. */
export const INIT_PROTOCOL_VERSION = 2;
/** The oldest version init (and encodeLaunch) still speaks. */
export const INIT_PROTOCOL_MIN_VERSION = 1;
export const HEADER_SIZE = 12;
export const MAX_FRAME = 1 << 20;
/** LAUNCH's uid field when no uid is given. */
export const NO_UID = 0xffff_ffff;

export const MessageType = {
  // service -> init
  Hello: 0x01,
  Launch: 0x02,
  Signal: 0x03,
  Resize: 0x04,
  Mount: 0x05,
  Unmount: 0x06,
  Terminate: 0x07,
  // init -> service
  HelloAck: 0x81,
  Launched: 0x82,
  LaunchFailed: 0x83,
  Exited: 0x84,
  Error: 0x85,
  Ok: 0x86,
  Mounted: 0x87,
  Terminated: 0x88,
} as const;
export type MessageTypeValue = (typeof MessageType)[keyof typeof MessageType];

export const LaunchMode = { Pipes: 0, Pty: 1 } as const;
export const MOUNT_READ_ONLY = 0x1;
export const TERMINATE_FORCE = 0x1;

export interface FrameHeader {
  length: number;
  type: number;
  /** Descriptors passed for this frame on the fd channel, before it. */
  nfds: number;
  flags: number;
  id: number;
}

/** A frame from init that is not what the protocol allows. */
export class InitProtocolError extends Error {
  override name = 'InitProtocolError';
}

/** Appends typed fields; `finish` prepends the header. Also used by tests to craft malformed frames. */
export class FrameWriter {
  private readonly parts: Buffer[] = [];

  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new RangeError(`u32 out of range: ${value}`);
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value);
    this.parts.push(b);
    return this;
  }

  /** A string field: u32 byte count + UTF-8 bytes. NUL is refused unless `raw` (init refuses it too). */
  str(value: string | Buffer, { raw = false } = {}): this {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    if (!raw && bytes.includes(0)) throw new TypeError('strings sent to init cannot contain NUL');
    this.u32(bytes.length);
    this.parts.push(bytes);
    return this;
  }

  strv(values: readonly string[]): this {
    this.u32(values.length);
    for (const value of values) this.str(value);
    return this;
  }

  bytes(raw: Buffer): this {
    this.parts.push(raw);
    return this;
  }

  payload(): Buffer {
    return Buffer.concat(this.parts);
  }

  finish(type: number, id: number, nfds = 0): Buffer {
    return encodeFrame({ type, id, nfds }, this.payload());
  }
}

/** Header + payload. `length` defaults to the real size; tests may lie about it. */
export function encodeFrame(
  header: { type: number; id: number; nfds?: number; flags?: number; length?: number },
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const length = header.length ?? HEADER_SIZE + payload.length;
  if (header.length === undefined && length > MAX_FRAME) throw new RangeError(`frame of ${length} bytes exceeds ${MAX_FRAME}`);
  const head = Buffer.alloc(HEADER_SIZE);
  head.writeUInt32LE(length >>> 0, 0);
  head.writeUInt16LE(header.type, 4);
  head.writeUInt8(header.nfds ?? 0, 6);
  head.writeUInt8(header.flags ?? 0, 7);
  head.writeUInt32LE(header.id >>> 0, 8);
  return Buffer.concat([head, payload]);
}

export interface LaunchFields {
  mode: (typeof LaunchMode)[keyof typeof LaunchMode];
  /** User name; '' = not given. */
  user: string;
  /** NO_UID = not given. Neither given = root. */
  uid: number;
  argv: readonly string[];
  env: readonly string[];
  /** '' = the user's home, else /. '~' = home (must exist). */
  cwd: string;
  cols: number;
  rows: number;
  /** Version 2: the file to execute when it is not argv[0] (a login shell's argv[0] is `-sh`); ''/absent = argv[0]. */
  executable?: string;
}

export const encodeHello = (id: number, version = INIT_PROTOCOL_VERSION): Buffer =>
  new FrameWriter().u32(version).finish(MessageType.Hello, id);

/** A LAUNCH in the layout of protocol `version`: version 1 has no executable field (and cannot carry one). */
export function encodeLaunch(id: number, f: LaunchFields, version = INIT_PROTOCOL_VERSION): Buffer {
  const writer = new FrameWriter().u32(f.mode).str(f.user).u32(f.uid).strv(f.argv).strv(f.env).str(f.cwd).u32(f.cols).u32(f.rows);
  if (version >= 2) writer.str(f.executable ?? '');
  else if (f.executable) throw new TypeError('protocol version 1 has no LAUNCH executable: argv[0] is the program');
  return writer.finish(MessageType.Launch, id, f.mode === LaunchMode.Pipes ? 3 : 0);
}

export const encodeSignal = (id: number, target: number, signal: number): Buffer =>
  new FrameWriter().u32(target).u32(signal).finish(MessageType.Signal, id);

export const encodeResize = (id: number, target: number, cols: number, rows: number): Buffer =>
  new FrameWriter().u32(target).u32(cols).u32(rows).finish(MessageType.Resize, id);

export const encodeMount = (id: number, target: string, readOnly: boolean): Buffer =>
  new FrameWriter().str(target).u32(readOnly ? MOUNT_READ_ONLY : 0).finish(MessageType.Mount, id, 1);

export const encodeUnmount = (id: number, target: string): Buffer =>
  new FrameWriter().str(target).finish(MessageType.Unmount, id);

export const encodeTerminate = (id: number, force: boolean): Buffer =>
  new FrameWriter().u32(force ? TERMINATE_FORCE : 0).finish(MessageType.Terminate, id);

/** A frame init sent, decoded. `id` is the request it answers, or (EXITED) the launch id. */
export type InitMessage =
  | { type: 'hello-ack'; id: number; version: number; pid: number }
  | { type: 'launched'; id: number; pid: number; nfds: number }
  | { type: 'launch-failed'; id: number; exitCode: number; errno: number; message: string }
  | { type: 'exited'; id: number; pid: number; exitCode: number; signal: number }
  | { type: 'error'; id: number; errno: number; refType: number; message: string }
  | { type: 'ok'; id: number }
  | { type: 'mounted'; id: number }
  | { type: 'terminated'; id: number };

class Reader {
  private off = HEADER_SIZE;
  constructor(
    private readonly frame: Buffer,
    private readonly what: string,
  ) {}

  u32(): number {
    if (this.off + 4 > this.frame.length) throw new InitProtocolError(`${this.what}: truncated field`);
    const v = this.frame.readUInt32LE(this.off);
    this.off += 4;
    return v;
  }

  str(): string {
    const len = this.u32();
    if (this.off + len > this.frame.length) throw new InitProtocolError(`${this.what}: truncated string`);
    const s = this.frame.toString('utf8', this.off, this.off + len);
    this.off += len;
    return s;
  }

  end(): void {
    if (this.off !== this.frame.length) throw new InitProtocolError(`${this.what}: trailing bytes`);
  }
}

export function readHeader(buf: Buffer): FrameHeader {
  return {
    length: buf.readUInt32LE(0),
    type: buf.readUInt16LE(4),
    nfds: buf.readUInt8(6),
    flags: buf.readUInt8(7),
    id: buf.readUInt32LE(8),
  };
}

/** Decodes one whole frame from init; throws InitProtocolError on anything the protocol does not allow. */
export function decodeInitMessage(frame: Buffer): InitMessage {
  const h = readHeader(frame);
  const name = `frame type 0x${h.type.toString(16)}`;
  if (h.flags !== 0) throw new InitProtocolError(`${name}: reserved flags set`);
  const expectFds = (n: number): void => {
    if (h.nfds !== n) throw new InitProtocolError(`${name}: announces ${h.nfds} descriptors, expected ${n}`);
  };
  const r = new Reader(frame, name);
  let message: InitMessage;
  switch (h.type) {
    case MessageType.HelloAck:
      expectFds(0);
      message = { type: 'hello-ack', id: h.id, version: r.u32(), pid: r.u32() };
      break;
    case MessageType.Launched:
      if (h.nfds > 1) expectFds(1);
      message = { type: 'launched', id: h.id, pid: r.u32(), nfds: h.nfds };
      break;
    case MessageType.LaunchFailed:
      expectFds(0);
      message = { type: 'launch-failed', id: h.id, exitCode: r.u32(), errno: r.u32(), message: r.str() };
      break;
    case MessageType.Exited:
      expectFds(0);
      message = { type: 'exited', id: h.id, pid: r.u32(), exitCode: r.u32(), signal: r.u32() };
      break;
    case MessageType.Error:
      expectFds(0);
      message = { type: 'error', id: h.id, errno: r.u32(), refType: r.u32(), message: r.str() };
      break;
    case MessageType.Ok:
    case MessageType.Mounted:
    case MessageType.Terminated:
      expectFds(0);
      message = {
        type: h.type === MessageType.Ok ? 'ok' : h.type === MessageType.Mounted ? 'mounted' : 'terminated',
        id: h.id,
      };
      break;
    default:
      throw new InitProtocolError(`unknown ${name}`);
  }
  r.end();
  return message;
}

/** Splits a byte stream into whole frames. Throws InitProtocolError on a length outside 12..MAX_FRAME. */
export class FrameSplitter {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const frames: Buffer[] = [];
    let off = 0;
    while (this.buffered.length - off >= HEADER_SIZE) {
      const length = this.buffered.readUInt32LE(off);
      if (length < HEADER_SIZE || length > MAX_FRAME) {
        throw new InitProtocolError(`frame length ${length} outside ${HEADER_SIZE}..${MAX_FRAME}`);
      }
      if (this.buffered.length - off < length) break;
      frames.push(this.buffered.subarray(off, off + length));
      off += length;
    }
    this.buffered = this.buffered.subarray(off);
    return frames;
  }
}
