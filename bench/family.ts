// What a row family gets and gives: the sizes, the running lxssd, the peers when asked for; its rows.

import type { Row } from './measure.js';
import type { Sizes } from './options.js';
import type { Peers } from './peers.js';
import type { Service } from './service.js';

export interface BenchContext {
  sizes: Sizes;
  service: Service;
  peers: Peers | undefined;
}

export interface Family {
  name: string;
  rows(context: BenchContext): Promise<Row[]>;
}
