// Runs every benchmark and prints one table each. Benchmarks land with the features they measure.

const benchmarks: Array<{ name: string; run: () => Promise<Array<Record<string, string | number>>> }> = [];

for (const benchmark of benchmarks) {
  console.log(`\n${benchmark.name}`);
  console.table(await benchmark.run());
}
if (benchmarks.length === 0) console.log('no benchmarks yet');
