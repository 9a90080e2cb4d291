#!/usr/bin/env node
// The `clan` launcher. Thread settings must be in the environment before libgomp (loaded with libtorch) reads
// them, so this file sets them first and only then imports the CLI (and with it the addon) dynamically.
// Exit codes: 0 ok, 1 error, 2 usage, 130 interrupted.
const argv = process.argv.slice(2);
const i = argv.findIndex((a) => a === '--threads' || a.startsWith('--threads='));
const threads = i < 0 ? process.env.CLAN_THREADS : argv[i].includes('=') ? argv[i].split('=')[1] : argv[i + 1];
if (threads && /^[1-9][0-9]*$/.test(threads)) process.env.OMP_NUM_THREADS = threads;
// Idle OpenMP workers spin by default; on a shared 2-core machine that steals time from data workers.
if (!process.env.OMP_WAIT_POLICY) process.env.OMP_WAIT_POLICY = 'PASSIVE';

// libtorch's c10d logs through glog straight to stderr (e.g. a port in use, as three lines); we report every such
// failure as one error line, so keep glog to fatal messages unless the user asks otherwise.
if (!process.env.GLOG_minloglevel) process.env.GLOG_minloglevel = '3';
// The same for PyTorch 2.x's own logging (c10, no glog): NNPACK's start-up complaint, c10d's socket warnings.
if (!process.env.TORCH_CPP_LOG_LEVEL) process.env.TORCH_CPP_LOG_LEVEL = 'ERROR';

const { main } = await import('../dist/src/cli/main.js');
process.exitCode = await main(argv);
