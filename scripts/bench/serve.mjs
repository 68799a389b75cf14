// Static file server for the bench pages, bound to 127.0.0.1 only.
//
//   node serve.mjs <port> <prefix>=<dir> [<prefix>=<dir> ...]
//
// Serves each <dir> under /<prefix>/ with the right MIME types (wasm needs application/wasm) and
// cross-origin isolation headers, so that TF.js may use its threaded wasm backend (the anchor gets its
// best configuration) and performance.now() has full resolution. Port 0 picks a free port; prints
// "listening <port>" when ready.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.bin': 'application/octet-stream',
  '.woff2': 'font/woff2',
  '.ico': 'image/x-icon',
  '.y4m': 'application/octet-stream',
};

const [portArg, ...mounts] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || mounts.length === 0) {
  console.error('usage: node serve.mjs <port> <prefix>=<dir> ...');
  process.exit(2);
}
const roots = new Map();
for (const m of mounts) {
  const eq = m.indexOf('=');
  if (eq <= 0) {
    console.error(`bad mount ${m}`);
    process.exit(2);
  }
  roots.set(m.slice(0, eq), path.resolve(m.slice(eq + 1)));
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const parts = decodeURIComponent(url.pathname).split('/').filter(Boolean);
  const root = roots.get(parts[0] ?? '');
  const headers = {
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-store',
  };
  if (!root) {
    res.writeHead(404, headers).end('no such mount');
    return;
  }
  let file = path.join(root, ...parts.slice(1));
  if (!file.startsWith(root)) {
    res.writeHead(403, headers).end();
    return;
  }
  fs.stat(file, (err, st) => {
    if (!err && st.isDirectory()) file = path.join(file, 'index.html');
    fs.readFile(file, (err2, body) => {
      if (err2) {
        res.writeHead(404, headers).end('not found');
        return;
      }
      headers['Content-Type'] = MIME[path.extname(file)] ?? 'application/octet-stream';
      res.writeHead(200, headers).end(body);
    });
  });
});
server.listen(port, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
