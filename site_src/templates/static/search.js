// Client-side search over search.json: every query word must appear in a page's title,
// headings or text. The index is fetched on first focus, so pages that never search pay nothing.
(function () {
  'use strict';
  const form = document.querySelector('form.search');
  if (!form) return;
  const input = form.querySelector('input');
  const list = form.querySelector('.results');
  const root = form.dataset.root;
  let index = null;

  function load() {
    if (!index) index = fetch(form.dataset.index).then((r) => r.json());
    return index;
  }

  // How many query words a text contains.
  function hits(text, words) {
    const lower = text.toLowerCase();
    return words.filter((w) => lower.includes(w)).length;
  }

  // The section that matches most words, if any; results rank title hits, then section hits.
  function rank(page, words) {
    let heading = null;
    let best = 0;
    for (const h of page.headings) {
      const n = hits(h.name, words);
      if (n > best) { best = n; heading = h; }
    }
    return { page, heading, score: 3 * hits(page.title, words) + 2 * best };
  }

  function show(pages, words) {
    list.replaceChildren();
    const found = pages.filter((p) => words.every((w) => p.search.includes(w)))
      .map((p) => rank(p, words))
      .sort((a, b) => b.score - a.score)
      .slice(0, 10);
    for (const { page, heading } of found) {
      const link = document.createElement('a');
      link.href = root + page.url + (heading ? '#' + heading.id : '');
      link.textContent = page.title;
      if (heading) {
        const small = document.createElement('small');
        small.textContent = heading.name;
        link.append(small);
      }
      const item = document.createElement('li');
      item.append(link);
      list.append(item);
    }
    if (!found.length) {
      const item = document.createElement('li');
      item.textContent = 'No results';
      list.append(item);
    }
    list.hidden = false;
  }

  input.addEventListener('focus', load, { once: true });
  input.addEventListener('input', () => {
    const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    if (!words.length) { list.hidden = true; return; }
    load().then((data) => show(data.pages, words));
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') { input.value = ''; list.hidden = true; }
    if (event.key === 'Enter') {
      const first = list.querySelector('a');
      if (first) location.href = first.href;
    }
  });
})();
