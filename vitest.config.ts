import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // CI shares two cores between server processes, Chromium and argon2: a test that missed a
    // timing window once is run again (a real failure fails twice). Locally, never.
    retry: process.env.CI ? 1 : 0,
  },
});
