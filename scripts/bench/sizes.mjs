// Transfer sizes of the files a page loads: raw, gzip (level 9) and brotli (quality 11), per file and
// in all. Prints JSON: {files: [{path, kind, raw, gzip, brotli}], total: {raw, gzip, brotli}}.
//
//   node sizes.mjs <kind>=<file> [<kind>=<file> ...]
//
// <kind> groups files in the report (wasm, js, css, html, model, font, other).
import fs from 'node:fs';
import zlib from 'node:zlib';

const files = [];
const total = { raw: 0, gzip: 0, brotli: 0 };
for (const arg of process.argv.slice(2)) {
  const eq = arg.indexOf('=');
  const kind = arg.slice(0, eq);
  const path = arg.slice(eq + 1);
  const body = fs.readFileSync(path);
  const gzip = zlib.gzipSync(body, { level: 9 }).length;
  const brotli = zlib.brotliCompressSync(body, {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length,
    },
  }).length;
  files.push({ path, kind, raw: body.length, gzip, brotli });
  total.raw += body.length;
  total.gzip += gzip;
  total.brotli += brotli;
}
console.log(JSON.stringify({ files, total }, null, 2));
