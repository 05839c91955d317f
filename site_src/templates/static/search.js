// Full-text search with Pagefind (docs/pagefind/, made by the build). The library loads on the
// first focus, so pages that never search pay nothing; a query then fetches only the index
// chunks that hold its words and the fragments of the results it shows. Each result links to
// the section that matches best and shows the matching passage.
(function () {
  'use strict';
  const form = document.querySelector('form.search');
  if (!form) return;
  const input = form.querySelector('input');
  const list = form.querySelector('.results');
  const root = form.dataset.root;
  const SHOWN = 8;
  let pagefind = null;
  let latest = 0;

  function load() {
    if (!pagefind) {
      pagefind = import(new URL(form.dataset.pagefind, location.href).href).then(async (module) => {
        // On the page's thread: no worker script for the page's CSP to allow, and a query's
        // work is small. The WebAssembly still needs 'wasm-unsafe-eval' in script-src.
        await module.options({ noWorker: true, excerptLength: 24 });
        await module.init();
        return module;
      });
      pagefind.catch(() => { pagefind = null; });
    }
    return pagefind;
  }

  // Pagefind's URLs start at the docs root ("/proxy/#rate-limits"); pages link relative to it.
  function href(url) {
    return root + url.replace(/^\//, '');
  }

  // The section with the most matches; a page's first section has no anchor.
  function bestSection(data) {
    let best = null;
    for (const sub of data.sub_results || []) {
      if (!best || sub.locations.length > best.locations.length) best = sub;
    }
    return best;
  }

  // An excerpt is HTML with <mark> around the matches: keep those, and only text otherwise.
  function passage(excerpt) {
    const p = document.createElement('p');
    const parsed = new DOMParser().parseFromString(excerpt, 'text/html');
    for (const node of parsed.body.childNodes) {
      if (node.nodeName === 'MARK') {
        const mark = document.createElement('mark');
        mark.textContent = node.textContent;
        p.append(mark);
      } else {
        p.append(node.textContent);
      }
    }
    return p;
  }

  function result(data) {
    const section = bestSection(data);
    const link = document.createElement('a');
    link.href = href(section ? section.url : data.url);
    link.textContent = data.meta.title;
    if (section && section.url.includes('#') && section.title !== data.meta.title) {
      const small = document.createElement('small');
      small.textContent = section.title;
      link.append(small);
    }
    link.append(passage(section ? section.excerpt : data.excerpt));
    const item = document.createElement('li');
    item.append(link);
    return item;
  }

  async function show(query) {
    const ticket = ++latest;
    const module = await load();
    const search = await module.search(query);
    if (ticket !== latest || !search) return;
    const found = await Promise.all(search.results.slice(0, SHOWN).map((r) => r.data()));
    if (ticket !== latest) return;
    list.replaceChildren(...found.map(result));
    if (!found.length) {
      const item = document.createElement('li');
      item.textContent = 'No results';
      list.append(item);
    }
    list.hidden = false;
  }

  form.addEventListener('submit', (event) => event.preventDefault());
  input.addEventListener('focus', () => { load().catch(() => {}); }, { once: true });
  input.addEventListener('input', () => {
    const query = input.value.trim();
    if (!query) { latest++; list.hidden = true; return; }
    show(query).catch((error) => console.error('search failed:', error));
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') { input.value = ''; latest++; list.hidden = true; }
    if (event.key === 'Enter') {
      const first = list.querySelector('a');
      if (first) location.href = first.href;
    }
  });
})();
