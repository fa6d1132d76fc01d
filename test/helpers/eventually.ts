// The one way tests wait for OS state: poll a check until it passes or a deadline expires.

import { setTimeout as delay } from 'node:timers/promises';

export async function eventually<T>(
  check: () => T | Promise<T>,
  { timeoutMs = 5000, intervalMs = 20, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`${what} did not hold within ${timeoutMs} ms: ${(lastError as Error)?.message ?? lastError}`);
    }
    await delay(intervalMs);
  }
}
