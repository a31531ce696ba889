#!/usr/bin/env node
// The `peer-cluster` command. A file of its own rather than dist/cli/main.js itself: npm links a
// package's bins before its `prepare` script builds dist, and skips a bin whose file is not there,
// so in a fresh checkout of the repository `npx peer-cluster` would not exist.
import '../dist/cli/main.js';
