// Extracts criterion's estimates from `cargo bench` output: every "<name>  time: [lo mid hi]" line.
// Prints JSON [{name, low_ms, mid_ms, high_ms}] (mid is criterion's point estimate of the mean).
//
//   node criterion.mjs < cargo-bench.log
import fs from 'node:fs';

const UNIT_MS = { ps: 1e-9, ns: 1e-6, 'µs': 1e-3, us: 1e-3, ms: 1, s: 1000 };
const text = fs.readFileSync(0, 'utf8');
const lines = text.split('\n');
const out = [];
let lastName = null;
for (const line of lines) {
  const m = line.match(/^(\S.*?)?\s*time:\s+\[([\d.]+)\s*(\S+)\s+([\d.]+)\s*(\S+)\s+([\d.]+)\s*(\S+)\]/);
  if (m) {
    const name = (m[1] ?? '').trim() || lastName;
    const ms = (v, u) => Number(v) * (UNIT_MS[u] ?? NaN);
    out.push({ name, low_ms: ms(m[2], m[3]), mid_ms: ms(m[4], m[5]), high_ms: ms(m[6], m[7]) });
    lastName = null;
  } else if (/^\S/.test(line) && !/^(Benchmarking|Found|Gnuplot|Warning|Running|\s)/.test(line) && !line.includes(':')) {
    // criterion prints a long benchmark name on its own line, then "time:" on the next.
    lastName = line.trim();
  }
}
console.log(JSON.stringify(out, null, 2));
