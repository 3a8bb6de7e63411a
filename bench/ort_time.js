// Times ONNX Runtime (the npm onnxruntime-node package) on one ONNX file, for
// bench/ort_vs_edgesplit.sh. A benchmark peer only: nothing in the build or the
// tests loads it.
//
// Usage: node bench/ort_time.js MODEL.onnx --threads N [--repeat N] [--batch N] [--profile OUT.json]
// --batch N: every input's leading (batch) dim is N (the model's batch dim
// must be symbolic, or N); times are per run of the whole batch.
// Prints one JSON line: {"median_ms", "min_ms", "p95_ms", "threads", "repeat", "ort_version"}.
// With --profile, ONNX Runtime's own per-node profile (enableProfiling) is
// summarised into OUT.json: [{name, op, median_ms}] in graph order, from the
// timed runs only.
//
// The module is found through NODE_PATH (the scratch folder the bench script
// installed it into). Input: deterministic values in [-1, 1), like
// edgesplit bench-engine's.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

function parseArgs(argv) {
  const a = {model: null, threads: 1, repeat: 20, batch: 1, profile: null};
  for (let i = 0; i < argv.length; ++i) {
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
      return argv[++i];
    };
    if (argv[i] === '--threads') a.threads = parseInt(next(), 10);
    else if (argv[i] === '--repeat') a.repeat = parseInt(next(), 10);
    else if (argv[i] === '--batch') a.batch = parseInt(next(), 10);
    else if (argv[i] === '--profile') a.profile = next();
    else if (!a.model) a.model = argv[i];
    else throw new Error(`unexpected argument ${argv[i]}`);
  }
  if (!a.model) throw new Error('usage: ort_time.js MODEL.onnx --threads N [--repeat N] [--batch N] [--profile OUT.json]');
  if (!(a.threads >= 1) || !(a.repeat >= 1) || !(a.batch >= 1)) throw new Error('--threads, --repeat and --batch must be positive integers');
  return a;
}

function quantile(v, q) {
  const s = [...v].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

// Deterministic uniform [-1, 1) (a 32-bit LCG; the values only need to be
// the same every run, not the same as edgesplit's).
function fill(n) {
  const out = new Float32Array(n);
  let s = 1;
  for (let i = 0; i < n; ++i) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

// ONNX Runtime's profile is a Chrome trace: one "Node" event per kernel run
// (name "<node>_kernel_time", args.op_name). Keeps the last `runs` runs.
function summariseProfile(file, runs) {
  const events = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byNode = new Map();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const name = e.name.slice(0, -'_kernel_time'.length);
    if (!byNode.has(name)) byNode.set(name, {name, op: e.args.op_name, us: []});
    byNode.get(name).us.push(e.dur);
  }
  const rows = [];
  for (const r of byNode.values()) {
    const timed = r.us.slice(-runs);
    rows.push({name: r.name, op: r.op, median_ms: quantile(timed, 0.5) / 1e3});
  }
  return rows;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const options = {
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableProfiling: a.profile !== null,
  };
  // The binding's endProfiling() returns nothing: the trace (prefix + a
  // timestamp) is found as the only file of a fresh folder.
  const traceDir = a.profile ? fs.mkdtempSync(path.join(require('os').tmpdir(), 'ort_profile_')) : null;
  if (traceDir) options.profileFilePrefix = path.join(traceDir, 'ort');
  const session = await ort.InferenceSession.create(a.model, options);
  const feeds = {};
  for (const name of session.inputNames) {
    const meta = session.inputMetadata ? session.inputMetadata.find((m) => m.name === name) : null;
    const dims = meta && meta.shape ? meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1)) : [1, 3, 224, 224];
    dims[0] = a.batch;
    feeds[name] = new ort.Tensor('float32', fill(dims.reduce((x, y) => x * y, 1)), dims);
  }
  await session.run(feeds);  // warm-up
  const times = [];
  for (let r = 0; r < a.repeat; ++r) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const result = {
    median_ms: quantile(times, 0.5),
    min_ms: Math.min(...times),
    p95_ms: quantile(times, 0.95),
    threads: a.threads,
    repeat: a.repeat,
    batch: a.batch,
    ort_version: ort.env.versions ? ort.env.versions.common : 'unknown',
  };
  if (a.profile) {
    session.endProfiling();
    const files = fs.readdirSync(traceDir);
    if (files.length !== 1) throw new Error(`ONNX Runtime wrote ${files.length} profiles into ${traceDir}`);
    const trace = path.join(traceDir, files[0]);
    fs.writeFileSync(a.profile, JSON.stringify(summariseProfile(trace, a.repeat), null, 1));
    fs.rmSync(traceDir, {recursive: true});
  }
  await session.release();
  console.log(JSON.stringify(result));
}

main().catch((e) => {
  console.error(`ort_time: ${e.message}`);
  process.exit(1);
});
