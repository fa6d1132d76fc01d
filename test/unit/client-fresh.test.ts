// The committed typed client (src/client/openapi.ts) is what the generator makes of the committed document, so
// a route change that forgets `npm run client` fails here, not in a user's build.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../../../', import.meta.url));

it('src/client/openapi.ts is generated from the committed openapi/openapi.json', async () => {
  const result = await promisify(execFile)('bash', [join(root, 'scripts', 'generate-client.sh'), '--check'], { cwd: root }).then(
    () => ({ stale: false, stderr: '' }),
    (error: { stderr?: string }) => ({ stale: true, stderr: error.stderr ?? String(error) }),
  );
  assert.equal(result.stale, false, `the typed client is stale: run npm run client\n${result.stderr}`);
});
