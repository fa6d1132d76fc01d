// The Kubernetes exec frame codec (src/routes/k8s-channels.ts) against the frames kubelet and client-go send.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeClientFrame,
  exitStatus,
  isK8sProtocol,
  K8S_V4_PROTOCOL,
  K8S_V5_PROTOCOL,
  type K8sProtocol,
  outputFrame,
  READY_FRAME,
  statusFrame,
} from '../../src/routes/k8s-channels.js';

const frame = (channel: number, payload: string | Buffer = '') => Buffer.concat([Buffer.of(channel), Buffer.from(payload)]);
const both: K8sProtocol[] = [K8S_V5_PROTOCOL, K8S_V4_PROTOCOL];

describe('decodeClientFrame', () => {
  it('takes channel 0 as stdin bytes, binary-clean, in both versions', () => {
    const bytes = Buffer.from([0, 255, 10, 13, 0x80]);
    for (const protocol of both) {
      const decoded = decodeClientFrame(protocol, frame(0, bytes));
      assert.equal(decoded.kind, 'stdin', protocol);
      assert.deepEqual(decoded.kind === 'stdin' && [...decoded.data], [...bytes], protocol);
    }
  });

  it('reads client-go\'s {"Width","Height"} and client-node\'s {"width","height"} on channel 4, as Go matches field names', () => {
    const cases: Array<[string, { cols: number; rows: number }]> = [
      ['{"Width":120,"Height":40}', { cols: 120, rows: 40 }],
      ['{"height":24,"width":80}', { cols: 80, rows: 24 }],
      ['{"WIDTH":100,"hEiGhT":30}', { cols: 100, rows: 30 }],
      ['{"Width":90,"width":70,"Height":20,"extra":true}', { cols: 70, rows: 20 }],
      [' {"Width":65535,"Height":5000}\n', { cols: 4096, rows: 4096 }],
    ];
    for (const protocol of both) {
      for (const [json, size] of cases) {
        assert.deepEqual(decodeClientFrame(protocol, frame(4, json)), { kind: 'resize', ...size }, `${protocol} ${json}`);
      }
    }
  });

  it('keeps the terminal size when a side is zero or missing, as a size no terminal takes', () => {
    for (const json of ['{"Width":0,"Height":0}', '{"Width":80}', '{"Height":24,"Width":null}', '{}']) {
      assert.equal(decodeClientFrame(K8S_V5_PROTOCOL, frame(4, json)).kind, 'ignored', json);
    }
  });

  it('refuses a resize that is not a JSON object of uint16 sides with E_INVALIDARG', () => {
    for (const json of ['', 'not json', '[80,24]', 'null', '{"Width":-1,"Height":24}', '{"Width":80.5,"Height":24}', '{"Width":65536,"Height":24}', '{"Width":"80","Height":24}']) {
      assert.throws(() => decodeClientFrame(K8S_V5_PROTOCOL, frame(4, json)), { code: 'E_INVALIDARG' }, json);
    }
  });

  it('v5: [255, 0] is stdin EOF; closing another channel is harmless; a malformed CLOSE breaks the protocol', () => {
    assert.deepEqual(decodeClientFrame(K8S_V5_PROTOCOL, Buffer.of(255, 0)), { kind: 'stdin-eof' });
    for (const channel of [1, 2, 3, 4]) {
      assert.equal(decodeClientFrame(K8S_V5_PROTOCOL, Buffer.of(255, channel)).kind, 'ignored', `close ${channel}`);
    }
    for (const bad of [Buffer.of(255), Buffer.of(255, 0, 0), Buffer.of(255, 5), Buffer.of(255, 255)]) {
      assert.throws(() => decodeClientFrame(K8S_V5_PROTOCOL, bad), { code: 'E_INVALIDARG' }, `[${[...bad]}]`);
    }
  });

  it('v4 has no CLOSE signal: a 255 frame is dropped like any channel kubelet does not open, stdin stays open', () => {
    assert.equal(decodeClientFrame(K8S_V4_PROTOCOL, Buffer.of(255, 0)).kind, 'ignored');
  });

  it('drops what kubelet drops: empty frames, empty stdin, and frames on channels a client does not write', () => {
    for (const protocol of both) {
      for (const dropped of [Buffer.alloc(0), Buffer.of(0), frame(1, 'x'), frame(2, 'x'), frame(3, '{}'), frame(5, '{"signal":9}'), frame(200, 'x')]) {
        assert.equal(decodeClientFrame(protocol, dropped).kind, 'ignored', `${protocol} [${[...dropped.subarray(0, 2)]}]`);
      }
    }
  });
});

describe('exitStatus and the frames the server writes', () => {
  it('is kubelet\'s metav1.Status: Success for 0, byte for byte', () => {
    assert.equal(statusFrame(exitStatus(0, ['true'])).toString('latin1'), '\x03{"metadata":{},"status":"Success"}');
  });

  it('is Failure / NonZeroExitCode with the code as the ExitCode cause and kubelet\'s message otherwise', () => {
    const status = exitStatus(3, ['sh', '-c', 'exit 3']);
    assert.equal(
      JSON.stringify(status),
      '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command ' +
        '[sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}',
    );
    assert.deepEqual(exitStatus(137, ['sleep', '100']).details, { causes: [{ reason: 'ExitCode', message: '137' }] }, 'SIGKILL is 128+9');
  });

  it('decodes as client-go does: the exit code is the integer in the ExitCode cause', () => {
    for (const code of [1, 2, 126, 127, 130, 255]) {
      const status = JSON.parse(statusFrame(exitStatus(code, ['x'])).subarray(1).toString());
      const cause = status.details.causes.find((c: { reason: string }) => c.reason === 'ExitCode');
      assert.equal(Number.parseInt(cause.message, 10), code, `code ${code}`);
    }
  });

  it('frames output with its channel byte, and says ready with an empty stdout frame', () => {
    assert.deepEqual([...outputFrame(2, Buffer.from('e'))], [2, 0x65]);
    assert.deepEqual([...READY_FRAME], [1]);
  });

  it('knows its protocol names', () => {
    assert.ok(isK8sProtocol('v5.channel.k8s.io') && isK8sProtocol('v4.channel.k8s.io'));
    for (const other of ['channel.k8s.io', 'v3.channel.k8s.io', 'base64.channel.k8s.io', 'lxss.stdio.v1']) assert.equal(isK8sProtocol(other), false, other);
  });
});
