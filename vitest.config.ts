import { defineConfig } from 'vitest/config'

// Multi-node tests start real `troth start` processes (1 to 5 of them) whose epochs run on wall
// time; on a 2-core machine, sharing the CPU with the CPU-bound simulation sweeps slows their
// consensus several-fold. So they run after everything else. The five-node obligations test runs
// alone (nine node processes at once left its auditors too little CPU to finish their audits
// within its 10-second epochs); the others, whose outcomes do not hang on audits finishing in
// time, run two files at a time.
const ALONE = ['test/node/obligations.test.ts']
const PAIRED = ['test/node/cluster.test.ts', 'test/node/governance.test.ts', 'test/node/keys.test.ts', 'test/node/audit.test.ts', 'test/node/status-page.test.ts', 'test/node/demo.test.ts', 'test/node/perturb.test.ts', 'test/node/sealed-start-cluster.test.ts']

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'core', include: ['test/**/*.test.ts'], exclude: ['**/node_modules/**', ...ALONE, ...PAIRED], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'multinode', include: ALONE, fileParallelism: false, sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: 'multinode-paired', include: PAIRED, fileParallelism: true, maxWorkers: 2, sequence: { groupOrder: 2 } } },
    ],
  },
})
