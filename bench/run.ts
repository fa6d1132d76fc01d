// Runs every benchmark and prints one table each. Numbers are for reading, never asserted in tests.

import { initLaunchBenchmark } from './init-launch.js';
import { processApiBenchmark } from './process-api.js';

const benchmarks: Array<{ name: string; run: () => Promise<Array<Record<string, string | number>>> }> = [
  initLaunchBenchmark as unknown as { name: string; run: () => Promise<Array<Record<string, string | number>>> },
  processApiBenchmark,
];

for (const benchmark of benchmarks) {
  console.log(`\n${benchmark.name}`);
  console.table(await benchmark.run());
}
