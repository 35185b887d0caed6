import { defineConfig } from 'vitest/config'

// Multi-node tests start real `troth start` processes (4 and 5 of them) whose epochs run on wall
// time; on a 2-core machine, sharing the CPU with the CPU-bound simulation sweeps slows their
// consensus several-fold. So they run as a second group, after everything else, one file at a
// time (nine node processes at once left the five-node test's auditors too little CPU to finish
// their audits within its 10-second epochs when the machine was busy).
const MULTINODE = ['test/node/cluster.test.ts', 'test/node/obligations.test.ts', 'test/node/governance.test.ts', 'test/node/keys.test.ts', 'test/node/audit.test.ts', 'test/node/status-page.test.ts', 'test/node/demo.test.ts', 'test/node/perturb.test.ts']

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'core', include: ['test/**/*.test.ts'], exclude: ['**/node_modules/**', ...MULTINODE], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'multinode', include: MULTINODE, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
})
