#!/usr/bin/env node
// The `tessera` command: runs the compiled CLI (npm install builds dist/ via `prepare`).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
