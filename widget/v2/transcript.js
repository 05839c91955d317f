// The whole conversation, from Retell's `update` events. Each carries only the last few utterances
// (five, today: "to avoid the payload being too large"), the newest growing as it is spoken, so
// the widget lays each window over the end of what it has: a growing utterance is updated in
// place, a new one appended, nothing lost or doubled however long the call.

// The window holds the conversation's last `w` utterances, so it starts `added` utterances past
// `n - w`, where `added` (0 to w - 1: updates come at every word) is how many are new. The smallest
// `added` that fits wins: every utterance the two share has the same role, and the same words but
// for our newest one (it grows as it is spoken) and a minority that speech recognition revised
// since; sharing only our newest fits only as the smallest choice. Failing that (a short overlap,
// revised), the roles alone decide.
function start(items, win) {
  const n = items.length;
  const w = win.length;
  if (!n) return 0;
  for (const words of [true, false]) {
    for (let added = Math.max(0, w - n); added < w; added++) {
      const at = n + added - w;
      let fits = true;
      let compared = 0;
      let differ = 0;
      for (let i = 0; fits && i < w && at + i < n; i++) {
        fits = items[at + i].role === win[i].role;
        if (at + i < n - 1) {
          compared++;
          if (items[at + i].content !== win[i].content) differ++;
        }
      }
      const first = added === Math.max(0, w - n);
      if (fits && (!words || (compared ? differ * 2 < compared || !differ : first))) return at;
    }
  }
  return n;
}

const utterance = (u) => Object.freeze({ role: u && u.role === 'agent' ? 'agent' : 'user', content: String((u && u.content) ?? '') });

/** A call's transcript. `update(window)` returns the indices of the utterances it changed. */
export function createTranscript() {
  const items = [];
  return {
    /** Every utterance so far, oldest first: frozen `{role, content}` objects in a new array. */
    all: () => items.slice(),
    update(window) {
      const win = Array.isArray(window) ? window.map(utterance) : [];
      const at = start(items, win);
      const changed = [];
      win.forEach((u, i) => {
        const have = items[at + i];
        if (have && have.role === u.role && have.content === u.content) return;
        items[at + i] = u;
        changed.push(at + i);
      });
      return changed;
    },
  };
}
