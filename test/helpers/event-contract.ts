// Every event a test server's buses carried, checked against the committed document's `Event` component (what
// clients generate from), so an event whose shape drifts from the document fails the test that made it emit.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import AjvModule from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { LxssServer } from '../../src/server.js';

type Validate = ((value: unknown) => boolean) & { errors?: unknown[] | null };
let validate: Validate | undefined;

function eventValidator(): Validate {
  if (validate) return validate;
  const document = JSON.parse(readFileSync(new URL('../../../openapi/openapi.json', import.meta.url), 'utf8')) as { components: unknown };
  const Ajv = ((AjvModule as unknown as { default?: unknown }).default ?? AjvModule) as typeof AjvModule.default;
  const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as typeof addFormatsModule.default;
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  // The components under an id of their own, so the document's `#/components/schemas/...` references resolve.
  ajv.addSchema({ $id: 'lxssd-openapi', components: document.components });
  validate = ajv.compile({ $ref: 'lxssd-openapi#/components/schemas/Event' }) as Validate;
  return validate;
}

/** Why `event` is not what the document's Event says an event is, or undefined when it is. */
export function eventMismatch(event: unknown): string | undefined {
  const check = eventValidator();
  return check(event) ? undefined : JSON.stringify(check.errors?.slice(0, 3));
}

/** Checks every event still kept on every session bus of `app` (call it once the server is closed). */
export function assertEventsMatchDocument(app: LxssServer): void {
  for (const session of app.lxss.sessions.list()) {
    for (const event of session.events.since(0)) {
      const mismatch = eventMismatch(event);
      assert.equal(mismatch, undefined, `the bus emitted an event the document does not describe: ${JSON.stringify(event)}`);
    }
  }
}
