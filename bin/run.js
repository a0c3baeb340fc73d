#!/usr/bin/env node
import module from 'node:module';

// Node 22: keep the compiled code of berth and its dependencies on disk (NODE_COMPILE_CACHE, else
// the OS temp dir), so that later starts skip compiling it. Before oclif is imported.
module.enableCompileCache?.();
const { execute } = await import('@oclif/core');
await execute({ dir: import.meta.url });
