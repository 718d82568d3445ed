// What a person set up in this view and keeps: the page, sort, search and filters for this browser tab
// (sessionStorage: they survive the remounts Chainlit does on every props update), and which columns are
// hidden and how wide they are, per account and table on the server (with a copy in localStorage).
function readStored(storage, key, fallback) {
  try {
    const raw = storage.getItem(key);
    return raw ? { ...fallback, ...JSON.parse(raw) } : fallback;
  } catch (e) {
    return fallback;
  }
}

function writeStored(storage, key, value) {
  try { storage.setItem(key, JSON.stringify(value)); } catch (e) { /* storage full or off: kept for this view only */ }
}

const EMPTY_VIEW = { page: 0, sort: null, q: "", filters: [] };

function useView(tableId, initialPage) {
  const key = `tablechat.view.${tableId}`;
  const [view, setViewState] = useState(() => readStored(window.sessionStorage, key, { ...EMPTY_VIEW, page: initialPage || 0 }));
  useEffect(() => { setViewState(readStored(window.sessionStorage, key, { ...EMPTY_VIEW, page: initialPage || 0 })); }, [tableId]);
  function setView(change) {
    setViewState((old) => {
      const next = { ...old, ...(typeof change === "function" ? change(old) : change) };
      writeStored(window.sessionStorage, key, next);
      return next;
    });
  }
  return [view, setView];
}

// Hidden columns and widths are kept on the server per account and table (they follow the person to
// another device); this browser keeps a copy to start from, and to use while the server is away.
function useColumnPrefs(accountId, tableId) {
  const key = `tablechat.columns.${accountId || "me"}.${tableId}`;
  const empty = { hidden: [], widths: {} };
  const [prefs, setPrefs] = useState(() => readStored(window.localStorage, key, empty));
  useEffect(() => {
    setPrefs(readStored(window.localStorage, key, empty));
    let gone = false;
    api(`/tables/${tableId}/column-prefs`).then((kept) => {
      if (gone) return;
      setPrefs(kept);
      writeStored(window.localStorage, key, kept);
    }).catch(() => null); // the copy of this browser stays
    return () => { gone = true; };
  }, [key]);
  function change(fn) {
    const next = fn(prefs);
    setPrefs(next);
    writeStored(window.localStorage, key, next);
    api(`/tables/${tableId}/column-prefs`, { method: "PUT", body: JSON.stringify(next) }).catch(() => null);
  }
  return {
    prefs,
    toggleHidden: (id) => change((old) => ({ ...old, hidden: old.hidden.includes(id) ? old.hidden.filter((x) => x !== id) : [...old.hidden, id] })),
    setWidth: (id, w) => setPrefs((old) => ({ ...old, widths: { ...old.widths, [id]: w } })), // while dragging
    keepWidth: (id, w) => change((old) => ({ ...old, widths: { ...old.widths, [id]: Math.round(w) } })),
  };
}

// State that must outlive a remount within this tab: the active cell, the cell being edited with what is
// typed so far, the row being added. Chainlit re-renders the element on props updates and when its own
// connection drops, which would otherwise throw away an edit being typed.
function useTabState(key, initial) {
  const [value, setValue] = useState(() => {
    try {
      const raw = window.sessionStorage.getItem(key);
      return raw ? JSON.parse(raw) : initial;
    } catch (e) {
      return initial;
    }
  });
  function set(next) {
    setValue(next);
    keepTabState(key, next);
  }
  return [value, set];
}

function keepTabState(key, value) {
  try {
    if (value === null || value === undefined) window.sessionStorage.removeItem(key);
    else window.sessionStorage.setItem(key, JSON.stringify(value));
  } catch (e) { /* storage off: kept for this render only */ }
}
