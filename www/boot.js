// Loads the faceid-h5 WebAssembly module and mounts the page on #app.
// Kept out of index.html so the page runs under a CSP without 'unsafe-inline'.
import init, { mount } from './pkg/faceid_h5.js';

const root = document.getElementById('app');

init()
  .then(() => {
    window.faceidH5 = mount(root, {});
  })
  .catch((err) => {
    console.error('faceid-h5: could not start', err);
    const zh = !/^en/i.test(new URLSearchParams(location.search).get('lang') || '');
    const box = document.createElement('div');
    box.className = 'fid-root';
    box.setAttribute('role', 'alertdialog');
    box.setAttribute('aria-labelledby', 'fid-boot-error');
    const title = document.createElement('h1');
    title.id = 'fid-boot-error';
    title.className = 'fid-title';
    title.textContent = zh
      ? '页面加载失败，请更新浏览器或在系统浏览器中打开'
      : 'The page could not start; update your browser or open it in the system browser';
    box.appendChild(title);
    root.replaceChildren(box);
  });
