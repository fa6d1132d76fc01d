// The release this build is, read from package.json at start.

import { readFileSync } from 'node:fs';

const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

export const LXSSD_VERSION: string = packageJson.version;
