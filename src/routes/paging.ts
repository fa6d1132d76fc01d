// Lists that can grow large come a page at a time: `?limit=&after=`, and `next` in the answer is the `after`
// of the following page (null on the last). The default page is large enough that a client written before
// paging still gets everything in the usual cases.

import { Type } from '@sinclair/typebox';

export const DEFAULT_PAGE_LIMIT = 512;
export const MAX_PAGE_LIMIT = 1000;

export const PageQuery = Type.Object(
  {
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: MAX_PAGE_LIMIT, description: `items per page (default ${DEFAULT_PAGE_LIMIT})` }),
    ),
    after: Type.Optional(
      Type.String({ minLength: 1, maxLength: 512, description: 'the `next` of the page before; absent: the first page' }),
    ),
  },
  { additionalProperties: false },
);

export const NextCursor = Type.Union([Type.String(), Type.Null()], {
  description: 'pass as `after` for the next page; null when this page is the last',
});

/** The page a query asks for. */
export function pageOf(query: { limit?: number; after?: string }): { limit: number; after?: string } {
  return { limit: query.limit ?? DEFAULT_PAGE_LIMIT, after: query.after };
}

/**
 * One page of a list in the order of `keyOf` (unique; e.g. creation time and id, the order the list has
 * anyway): the items whose key comes after the cursor's, so an item removed between two pages disturbs
 * nothing. The cursor is the last key of the page, base64url: opaque to clients.
 */
export function pageByKey<T>(
  items: readonly T[],
  keyOf: (item: T) => string,
  query: { limit?: number; after?: string },
): { items: T[]; next: string | null } {
  const { limit, after } = pageOf(query);
  const sorted = [...items].sort((a, b) => compare(keyOf(a), keyOf(b)));
  const from = after === undefined ? undefined : Buffer.from(after, 'base64url').toString('utf8');
  const rest = from === undefined ? sorted : sorted.filter((item) => compare(keyOf(item), from) > 0);
  const page = rest.slice(0, limit);
  return { items: page, next: rest.length > limit ? Buffer.from(keyOf(page.at(-1)!), 'utf8').toString('base64url') : null };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
