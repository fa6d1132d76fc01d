// Runs every benchmark and prints one table each. Numbers are for reading, never asserted in tests.

import { initLaunchBenchmark } from './init-launch.js';

const benchmarks: Array<{ name: string; run: () => Promise<Array<Record<string, string | number>>> }> = [
  initLaunchBenchmark as unknown as { name: string; run: () => Promise<Array<Record<string, string | number>>> },
];

for (const benchmark of benchmarks) {
  console.log(`\n${benchmark.name}`);
  console.table(await benchmark.run());
}
