import { useEffect, useRef, useState } from "react";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import {
  Loader2, Sparkles, AlertTriangle, RotateCw, Clock, Lock, Pin, CloudOff, ArrowUp, ArrowDown, X, Plus, Search,
  Filter, EyeOff, Trash2,
} from "lucide-react";

// The live view of the active table: a grid over the REST API (with the login cookie) that sorts, searches
// and filters server-side, edits cells through an outbox kept in the browser (nothing typed is lost when
// the server cannot be reached), adds and deletes rows, and follows the change feed so edits from another
// tab, user or the API appear at once (pushed; polled only while the push is down: live/feed.jsx).
// Values render as text (React escapes them).
// Chainlit wipes local state on every props update, so what must last is in browser storage. The parts
// live in public/elements/live/ and are pasted below by `make elements`: long because of those copies
// (Chainlit cannot import them); its own code is only the state the parts share and the layout.

// ==== pasted from shared/look.jsx (edit public/elements/shared/look.jsx, then `make elements`) ====
// Colours and value formatting of every tablechat element: one palette, one way to show a value.
//
// Why this file is copied into each element instead of imported: Chainlit 2.12 fetches
// /public/elements/<Name>.jsx and runs it with react-runner, whose `import` resolves only a fixed map of
// packages (react, lucide-react, @/components/ui/...) and throws "Module not found" for anything else,
// relative paths included. So `make elements` (core/elements.py) pastes the files of this folder
// between marker lines of the elements that name them, and a test fails when a pasted copy differs.
// Edit the files here, never the pasted copies. Only a few Tailwind colours are compiled into
// Chainlit's CSS, hence inline colours.

const COLOR = {
  bad: "#dc2626",
  good: "#16a34a",
  warn: "#b45309",
  busy: "#2563eb",
  ai: "#7c3aed",
  muted: "var(--muted-foreground, #6b7280)",
  border: "var(--border, #e5e7eb)",
  panel: "var(--muted, #f9fafb)",
  track: "rgba(127, 127, 127, 0.25)",
};
const MUTED = { color: COLOR.muted };

// the background and left edge of a proposed change, by its state
const TINT = {
  added: "rgba(34, 197, 94, 0.12)",
  removed: "rgba(239, 68, 68, 0.10)",
  modified: "rgba(245, 158, 11, 0.14)",
  updated: "rgba(245, 158, 11, 0.06)",
  changedCell: "rgba(245, 158, 11, 0.24)",
  deleted: "rgba(239, 68, 68, 0.10)",
};
const EDGE = { added: "#4ade80", removed: "#f87171", modified: "#fbbf24", updated: "#fbbf24", deleted: "#f87171" };

// A stored value as cell text, the same way proposals/preview.py `show` writes preview cells.
function show(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "boolean") return value ? "Yes" : "No";
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value.join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function plural(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function typeLabel(type) {
  return String(type).replace("_", " ");
}
// ==== end of shared/look.jsx ====

// ==== pasted from live/api.jsx (edit public/elements/live/api.jsx, then `make elements`) ====
// The REST calls of the live view, with the login cookie. A request the server never answered (offline,
// server stopped, a proxy's 502/503/504) fails with `unreachable` set and words a person can read, never
// the browser's raw "Failed to fetch".
const API = "/api/v1";
const HEADERS = { "X-Requested-With": "tablechat", "Content-Type": "application/json" };
const UNREACHABLE = "The server cannot be reached";

async function api(path, options = {}) {
  let res;
  try {
    res = await fetch(API + path, { credentials: "same-origin", headers: HEADERS, ...options });
  } catch (e) {
    const err = new Error(UNREACHABLE);
    err.unreachable = true;
    throw err;
  }
  const body = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    const gateway = [502, 503, 504].includes(res.status) && !(body && body.error);
    const err = new Error(gateway ? UNREACHABLE : (body && body.error && body.error.message) || res.statusText);
    err.status = res.status;
    err.body = body;
    err.unreachable = gateway;
    throw err;
  }
  return body;
}

function errorDetails(e) {
  return (e && e.body && e.body.error && e.body.error.details) || {};
}

// What a person typed into a cell, as the value of the column's type (the server checks it again).
function parseInput(text, type) {
  if (text.trim() === "") return null;
  if (type === "number") {
    const n = Number(text.replace(/,/g, ""));
    return Number.isNaN(n) ? text : n; // the server answers "not a number" with the text kept
  }
  if (type === "boolean") return ["true", "yes", "1", "✓", "y"].includes(text.trim().toLowerCase());
  if (type === "multi_select") return text.split(",").map((s) => s.trim()).filter(Boolean);
  if (type === "json") {
    try { return JSON.parse(text); } catch (e) { return text; }
  }
  return text;
}

function sameValue(a, b) {
  return JSON.stringify(a === undefined ? null : a) === JSON.stringify(b === undefined ? null : b);
}
// ==== end of live/api.jsx ====

// ==== pasted from live/outbox.jsx (edit public/elements/live/outbox.jsx, then `make elements`) ====
// The outbox: every cell edit is first written to the browser's IndexedDB (it survives a reload, a closed
// tab and a stopped server), then sent in the order it was made with the version it was based on. An
// entry leaves the outbox only when the server took it, or when the person chose what to do about it:
//   waiting   — not sent yet (or the server could not be reached)
//   conflict  — someone changed the cell first (409): keep mine / keep theirs
//   refused   — the server said no (the row is gone, the value does not fit): shown with its reason
// A row added is an entry too (`kind: "add"`): shown at once under a temporary id ("new-…"), the cells typed
// into it afterwards folded into its values; it is sent with an Idempotency-Key, so sending it again (the
// answer lost, the page reloaded while it waited) never adds it twice.
const OUTBOX_DB = "tablechat-outbox";
const OUTBOX_STORE = "edits";

function outboxOpen() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(OUTBOX_DB, 1);
    req.onupgradeneeded = () => {
      const store = req.result.createObjectStore(OUTBOX_STORE, { keyPath: "seq", autoIncrement: true });
      store.createIndex("table", "table_id");
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function outboxRun(mode, work) {
  const db = await outboxOpen();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(OUTBOX_STORE, mode);
      let result;
      Promise.resolve(work(tx.objectStore(OUTBOX_STORE))).then((r) => { result = r; });
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

function request(req) {
  return new Promise((resolve, reject) => { req.onsuccess = () => resolve(req.result); req.onerror = () => reject(req.error); });
}

// The entries of one table made by one account, oldest first (another person signed in on this browser
// later never sends them under their own name).
function outboxList(tableId, accountId) {
  return outboxRun("readonly", (store) => request(store.index("table").getAll(tableId)))
    .then((all) => (all || []).filter((e) => e.account_id === accountId).sort((a, b) => a.seq - b.seq));
}

const NEW_ROW = "new-";

function isNewRow(id) {
  return typeof id === "string" && id.startsWith(NEW_ROW);
}

// A random key (RFC 4122 version 4); crypto.randomUUID exists only on https and localhost pages.
function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// The rows this tab's replays created, by temporary id: an edit of the new row typed while its add was
// being answered goes to the row the server made.
const CREATED = (window.__tablechatCreated = window.__tablechatCreated || {});

// Keep a new row: `values` by column id (empty cells left out), `texts` as typed. `key` is the add's
// Idempotency-Key; `tried` when a direct attempt under it got no answer (it may have made the row).
function outboxAddRow({ table_id, account_id, values, texts, key, tried }) {
  const entry = { kind: "add", table_id, account_id, key, temp_id: NEW_ROW + key, values, texts, state: "waiting",
                  attempts: tried ? 1 : 0, made: Date.now() };
  return outboxRun("readwrite", (store) => request(store.put(entry))).then(() => entry);
}

function withCell(map, columnId, value) {
  const out = { ...map };
  if (value === null || value === undefined) delete out[columnId];
  else out[columnId] = value;
  return out;
}

function outboxFoldIntoAdd(seq, edit) {
  let folded = false;
  return outboxRun("readwrite", (store) => request(store.get(seq)).then((now) => {
    if (!now) return; // made (or dropped) meanwhile
    const text = edit.value === null ? null : edit.text;
    store.put({ ...now, values: withCell(now.values, edit.column_id, edit.value), texts: withCell(now.texts, edit.column_id, text),
                state: "waiting", message: null });
    folded = true;
  })).then(() => folded);
}

// Keep an edit. A later edit of a cell still waiting replaces its value and keeps the version the first
// one was based on (the server has not seen either); an edit of a cell in conflict is the person's answer
// to it: their value, on top of the version now current.
async function outboxKeep(edit) {
  const all = await outboxList(edit.table_id, edit.account_id);
  if (isNewRow(edit.record_id)) {
    const add = all.find((e) => e.kind === "add" && e.temp_id === edit.record_id);
    // not made yet (or refused): the cell goes into the add, which is waiting again — read and written in
    // one transaction, so that a try of the add being counted meanwhile is not undone
    if (add && await outboxFoldIntoAdd(add.seq, edit)) return add.seq;
    const made = CREATED[edit.record_id];
    if (!made) return null; // the new row was dropped meanwhile
    const cell = made.cells[edit.column_id] || { version: 0 };
    return outboxKeep({ ...edit, record_id: made.id, version: cell.version });
  }
  const same = all.find((e) => e.kind !== "add" && e.record_id === edit.record_id && e.column_id === edit.column_id);
  const entry = same
    ? { ...same, value: edit.value, text: edit.text, state: "waiting", message: null,
        version: same.state === "conflict" && same.current ? same.current.version : same.version, current: null }
    : { ...edit, state: "waiting", made: Date.now() };
  return outboxRun("readwrite", (store) => request(store.put(entry)));
}

function outboxPut(entry) {
  return outboxRun("readwrite", (store) => request(store.put(entry)));
}

function outboxDrop(seq) {
  return outboxRun("readwrite", (store) => request(store.delete(seq)));
}

// A new row about to be sent: counted as tried before it leaves (from then on it may exist on the server,
// made from the values of whichever try reached it first); the values it goes with.
function outboxTryAdd(seq) {
  let sending = null;
  return outboxRun("readwrite", (store) => request(store.get(seq)).then((now) => {
    if (!now) return;
    sending = { ...now, attempts: (now.attempts || 0) + 1 };
    store.put(sending);
  })).then(() => sending);
}

// A new row the server made: its entry leaves the outbox, and each cell whose value the made row may lack
// becomes an edit of the made row — one typed while the add was on its way, and, when an earlier try may
// be the one that made the row (the server then answers with that row), one that differs from the row —
// in one transaction, so that nothing typed falls between the two.
function outboxSettleAdd(sent, made) {
  return outboxRun("readwrite", (store) => request(store.get(sent.seq)).then((now) => {
    store.delete(sent.seq);
    if (!now) return;
    const valueIn = (values, columnId) => (columnId in values ? values[columnId] : null);
    const columns = new Set([...Object.keys(now.values), ...Object.keys(sent.values)]);
    for (const columnId of columns) {
      const value = valueIn(now.values, columnId);
      const cell = made.cells[columnId] || { value: null, version: 0 };
      const typedSince = !sameValue(value, valueIn(sent.values, columnId));
      const madeEarlier = sent.attempts > 1 && columnId in now.values && !sameValue(value, cell.value);
      if (!typedSince && !madeEarlier) continue;
      store.put({ table_id: sent.table_id, account_id: sent.account_id, record_id: made.id, column_id: columnId, value,
                  text: value === null ? "" : now.texts[columnId], version: cell.version, state: "waiting", made: Date.now() });
    }
  }));
}

// The server said no to a new row. Unless it says the row was made under its key (and deleted since), no
// try made it (the server would have answered with that row): the count of tries starts again.
function outboxRefuseAdd(seq, message, made) {
  return outboxRun("readwrite", (store) => request(store.get(seq)).then((now) => {
    if (now) store.put({ ...now, state: "refused", message, attempts: made ? now.attempts : 0 });
  }));
}

// Send one entry; throws what the API threw.
async function outboxSend(tableId, entry) {
  if (entry.kind === "add") {
    const sending = await outboxTryAdd(entry.seq);
    if (!sending) return null; // dropped meanwhile
    const made = await api(`/tables/${tableId}/records`, {
      method: "POST", headers: { ...HEADERS, "Idempotency-Key": sending.key }, body: JSON.stringify({ values: sending.values }) });
    CREATED[sending.temp_id] = made;
    await outboxSettleAdd(sending, made);
    return made;
  }
  const cell = await api(`/tables/${tableId}/records/${entry.record_id}/cells/${entry.column_id}`, {
    method: "PATCH",
    body: JSON.stringify({ value: entry.value, version: entry.version }),
  });
  await outboxDrop(entry.seq);
  return cell;
}

// One replay at a time per browser tab, even across the remounts Chainlit does on every props update:
// two replays of the same entry would make the second one a false conflict.
const REPLAY = (window.__tablechatReplay = window.__tablechatReplay || { busy: null });

// Send the waiting entries of a table in order. Calls `seen(entry, cell)` for each saved cell (with the
// record for a new row) and returns "done", "unreachable" when the server could not be reached, or
// "failed" when it answered with an error of its own (either way the rest stays waiting, to be sent
// again later).
async function outboxReplay(tableId, accountId, seen) {
  while (REPLAY.busy) await REPLAY.busy.catch(() => null);
  let release;
  REPLAY.busy = new Promise((resolve) => { release = resolve; });
  try {
    // in the order they were made; entries made meanwhile (an edit of a row just created) in a next pass
    const tried = new Set();
    for (;;) {
      const todo = (await outboxList(tableId, accountId)).filter((e) => e.state === "waiting" && !tried.has(e.seq));
      if (!todo.length) break;
      for (const entry of todo) {
        tried.add(entry.seq);
        try {
          const got = await outboxSend(tableId, entry);
          if (got) seen(entry, got);
        } catch (e) {
          if (e.unreachable) return "unreachable";
          const current = errorDetails(e).current;
          if (entry.kind !== "add" && e.status === 409 && current && sameValue(current.value, entry.value)) {
            await outboxDrop(entry.seq); // already saved (an earlier replay whose answer was lost)
            seen(entry, current);
          } else if (entry.kind !== "add" && e.status === 409) {
            await outboxPut({ ...entry, state: "conflict", current: current || null, message: e.message });
          } else if (e.status && e.status < 500 && entry.kind === "add") {
            await outboxRefuseAdd(entry.seq, e.message, e.status === 409); // what was typed into it meanwhile stays
          } else if (e.status && e.status < 500) {
            await outboxPut({ ...entry, state: "refused", message: e.message });
          } else {
            return "failed"; // a server error: try again later, keep everything
          }
        }
      }
    }
    return "done";
  } finally {
    REPLAY.busy = null;
    release();
  }
}
// ==== end of live/outbox.jsx ====

// ==== pasted from live/feed.jsx (edit public/elements/live/feed.jsx, then `make elements`) ====
// How the live table hears of changes: pushed over the table's event stream (GET …/events, server-sent
// events), with the cursor poll of /updates only while the push is down. The stream is read with fetch,
// not EventSource, because a request signed in by the login cookie must carry the X-Requested-With header
// (docs/security.md) and EventSource cannot send headers.
//
// followFeed(tableId, getCursor, onPage, onGone, pollMs) hands every change after getCursor() to
// onPage({changes, cursor, more}) — the shape of /updates; `more` means "read the rows again" — one page at
// a time, in order. When the stream fails it polls every pollMs and opens the stream again by itself
// (after 1, 2, 5, 10, then every 30 s), catching up from the cursor; while the stream says the push is
// down it polls too. onGone() is called when the table is deleted or no longer the caller's.
// Returns a function that stops it all.

const FEED_RETRY_MS = [1000, 2000, 5000, 10000, 30000];
const FEED_HEADERS = { "X-Requested-With": "tablechat", Accept: "text/event-stream" };

function followFeed(tableId, getCursor, onPage, onGone, pollMs, onReach = () => {}) {
  const base = `/api/v1/tables/${tableId}`;
  let stopped = false;
  let pollTimer = null;
  let retryTimer = null;
  let controller = null;
  let failures = 0;
  let chain = Promise.resolve();

  // one page at a time, in order, only what is newer than the cursor (a poll and the stream may overlap)
  function deliver(page) {
    chain = chain.then(async () => {
      if (stopped) return;
      const cur = getCursor();
      const changes = page.changes.filter((c) => cur === null || c.seq > cur);
      if (changes.length === 0 && !page.more) return;
      await onPage({ ...page, changes });
    }).catch(() => {});
    return chain;
  }

  async function poll() {
    if (stopped || getCursor() === null) return;
    try {
      const res = await fetch(`${base}/updates?cursor=${getCursor()}&limit=500`, {
        credentials: "same-origin", headers: { "X-Requested-With": "tablechat" },
      });
      onReach(true);
      if (res.status === 404) { stop(); onGone(); return; }
      if (res.ok) await deliver(await res.json());
    } catch (e) {
      onReach(false); // offline for now: the next poll or the stream catches up
    }
  }

  function startPolling() {
    if (pollTimer === null && !stopped) pollTimer = setInterval(poll, pollMs);
  }

  function stopPolling() {
    if (pollTimer !== null) clearInterval(pollTimer);
    pollTimer = null;
  }

  function handle(name, data) {
    if (name === "change") {
      return deliver({ changes: [data], cursor: data.seq, more: false });
    } else if (name === "reset") {
      return deliver({ changes: [], cursor: data.cursor, more: true });
    } else if (name === "ready" || name === "push") {
      failures = 0;
      if (data.push === false || data.up === false) startPolling(); else stopPolling();
    } else if (name === "gone") {
      stop();
      onGone();
    }
    return null;
  }

  async function listen() {
    if (stopped) return;
    if (getCursor() === null) { retryTimer = setTimeout(listen, 200); return; }
    controller = new AbortController();
    try {
      const res = await fetch(`${base}/events?cursor=${getCursor()}`, {
        credentials: "same-origin", headers: FEED_HEADERS, signal: controller.signal, cache: "no-store",
      });
      onReach(true);
      if (res.status === 404) { stop(); onGone(); return; }
      if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffered = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done || stopped) break;
        buffered += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffered.indexOf("\n\n")) >= 0) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          let name = "message";
          const data = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) name = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
          }
          if (data.length) handle(name, JSON.parse(data.join("\n")));
        }
      }
    } catch (e) {
      // dropped, refused or aborted: poll meanwhile and try again below (the poll tells whether the
      // server answers: a stream refused on the way, by a proxy say, is not the server being away)
    }
    controller = null;
    if (stopped) return;
    startPolling();
    const wait = FEED_RETRY_MS[Math.min(failures, FEED_RETRY_MS.length - 1)];
    failures += 1;
    retryTimer = setTimeout(listen, wait);
  }

  function stop() {
    stopped = true;
    stopPolling();
    if (retryTimer !== null) clearTimeout(retryTimer);
    if (controller !== null) controller.abort();
  }

  listen();
  return stop;
}
// ==== end of live/feed.jsx ====

// ==== pasted from live/poll.jsx (edit public/elements/live/poll.jsx, then `make elements`) ====
// The transport of the live view: how it learns that the table changed. Changes are pushed over the
// table's event stream (live/feed.jsx `followFeed`), the change feed (`/updates`) polled every POLL_MS
// only while the push is down; the AI status counts are re-read when the feed moved. Nothing outside this
// file and live/feed.jsx times requests.
const POLL_MS = 1000;
// The AI status counts read the whole table (~0.15 s at 100,000 rows): asked again only when the feed
// moved, and no sooner than this many times the last answer took (at least once a poll).
const STATUS_COST_FACTOR = 10;

// failed / queued cells of each AI column over the whole table, not just this page
function useAiStatus(tableId) {
  const [aiStatus, setAiStatus] = useState({});
  const statusClock = useRef({ timer: null, last: 0, took: 0 });

  async function loadStatus() {
    const clock = statusClock.current;
    clock.last = Date.now();
    try {
      const status = await api(`/tables/${tableId}/ai-status`);
      const byColumn = {};
      for (const c of status.columns) byColumn[c.column_id] = c;
      setAiStatus(byColumn);
    } catch (e) {
      // the table view shows what went wrong with the table itself; the counts simply wait
    }
    clock.took = Date.now() - clock.last;
  }

  function statusChanged() {
    const clock = statusClock.current;
    if (clock.timer !== null) return; // the refresh already planned reads this change too
    const gap = Math.max(POLL_MS, STATUS_COST_FACTOR * clock.took);
    clock.timer = setTimeout(() => { clock.timer = null; loadStatus(); }, Math.max(0, clock.last + gap - Date.now()));
  }

  useEffect(() => {
    setAiStatus({});
    loadStatus();
    return () => {
      const clock = statusClock.current;
      if (clock.timer !== null) clearTimeout(clock.timer);
      clock.timer = null;
    };
  }, [tableId]);

  return { aiStatus, loadStatus, statusChanged };
}

// Follow the change feed from `cursor.current` (set by the page load). `on.cells(byRecord)` gets cell
// changes of rows, `on.reload()` is called for anything else (rows added or deleted, columns, the
// table), `on.reach(ok)` after every answer or failure to answer, `on.gone()` when the table is deleted.
function usePoll(tableId, cursor, on, deps) {
  useEffect(() => {
    async function apply(feed) {
      cursor.current = feed.cursor;
      on.statusChanged();
      let reload = feed.more;
      const cellChanges = {};
      for (const c of feed.changes) {
        if (c.kind === "cell") {
          cellChanges[c.record_id] = cellChanges[c.record_id] || {};
          cellChanges[c.record_id][c.column_id] = c.data;
        } else {
          reload = true;
        }
      }
      if (reload) await on.reload();
      else on.cells(cellChanges);
    }
    return followFeed(tableId, () => cursor.current, apply, on.gone, POLL_MS, on.reach);
  }, deps);
}
// ==== end of live/poll.jsx ====

// ==== pasted from live/prefs.jsx (edit public/elements/live/prefs.jsx, then `make elements`) ====
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
// ==== end of live/prefs.jsx ====

// ==== pasted from live/cells.jsx (edit public/elements/live/cells.jsx, then `make elements`) ====
// How one cell reads: its value, an AI cell's state (queued, computing, failed, stale), a pin on an AI
// cell edited by hand, and the marks of an edit not saved yet or in conflict.
const STATUS = {
  pending: { icon: Clock, label: "queued", color: COLOR.muted },
  computing: { icon: Loader2, label: "computing", color: COLOR.busy, spin: true },
  error: { icon: AlertTriangle, label: "failed", color: COLOR.bad },
  stale: { icon: RotateCw, label: "stale", color: COLOR.warn },
};

function StatusBadge({ cell }) {
  const s = STATUS[cell.status];
  if (!s) return null;
  const Icon = s.icon;
  return (
    <span title={cell.error || s.label} style={{ color: s.color, display: "inline-flex", alignItems: "center", gap: 2, fontSize: 11 }}>
      <Icon size={12} className={s.spin ? "animate-spin" : ""} />
      {cell.status === "error" ? "failed" : s.label}
    </span>
  );
}

function CellView({ cell, column, pending }) {
  const shown = pending ? pending.value : cell.value;
  return (
    <span className="flex items-center gap-1" style={{ minWidth: 0 }}>
      <span className="truncate" style={pending && pending.state !== "refused" ? { fontStyle: "italic" } : null}>{show(shown)}</span>
      {column.ai && cell.pinned ? (
        <span data-testid="pinned" title="Pinned: set by hand, the AI leaves it alone (Unpin to let it fill the cell again)"
          style={{ color: COLOR.ai, display: "inline-flex" }}><Pin size={11} /></span>
      ) : null}
      {column.ai && !pending ? <StatusBadge cell={cell} /> : null}
      {pending && pending.state === "waiting" ? (
        <span data-testid="unsaved" title="Not saved yet: kept in this browser, sent when the server answers"
          style={{ color: COLOR.warn, display: "inline-flex" }}><CloudOff size={11} /></span>
      ) : null}
      {pending && pending.state !== "waiting" ? (
        <span title={pending.message || "not saved"} style={{ color: COLOR.bad, display: "inline-flex" }}><AlertTriangle size={11} /></span>
      ) : null}
    </span>
  );
}
// ==== end of live/cells.jsx ====

// ==== pasted from live/filters.jsx (edit public/elements/live/filters.jsx, then `make elements`) ====
// What the grid asks the server for: the sort (a header click), the search box and the filter panel,
// all answered server-side over the whole table (`GET …/records?sort=&q=&filter=`).
const TEXTUAL = ["eq", "ne", "contains", "lt", "le", "gt", "ge", "empty", "not_empty"];
const OPS_BY_TYPE = {
  text: TEXTUAL, long_text: TEXTUAL, email: TEXTUAL, url: TEXTUAL, select: TEXTUAL,
  multi_select: ["contains", "eq", "ne", "empty", "not_empty"],
  json: ["contains", "eq", "ne", "empty", "not_empty"],
  number: ["eq", "ne", "lt", "le", "gt", "ge", "empty", "not_empty"],
  date: ["eq", "ne", "lt", "le", "gt", "ge", "empty", "not_empty"],
  boolean: ["eq", "ne", "empty", "not_empty"],
};
const OP_LABEL = {
  eq: "is", ne: "is not", contains: "contains", lt: "<", le: "≤", gt: ">", ge: "≥",
  empty: "is empty", not_empty: "is not empty", status: "AI status is",
};
// the AI states a person filters by, as the server's `status` values
const AI_FILTERS = { error: ["error"], stale: ["stale"], pending: ["pending", "computing"], pinned: ["pinned"] };
const AI_FILTER_LABEL = { error: "failed", stale: "stale", pending: "queued or computing", pinned: "pinned" };
const NO_VALUE = ["empty", "not_empty"];
const SEARCH_DEBOUNCE_MS = 300;

function opsOf(column) {
  const ops = OPS_BY_TYPE[column.type] || ["eq", "ne", "empty", "not_empty"];
  return column.ai ? ["status", ...ops] : ops;
}

// The conditions the server gets: complete ones only (a value typed, unless the op needs none).
function serverFilters(table, filters) {
  const out = [];
  for (const f of filters) {
    const col = table.columns.find((c) => c.id === f.column);
    if (!col) continue;
    if (f.op === "status") out.push({ column: col.id, op: "status", value: AI_FILTERS[f.value] || [f.value] });
    else if (NO_VALUE.includes(f.op)) out.push({ column: col.id, op: f.op });
    else if (f.value !== undefined && String(f.value).trim() !== "") {
      const value = col.type === "boolean" ? f.value === "true"
        : col.type === "multi_select" || f.op === "contains" ? String(f.value) : parseInput(String(f.value), col.type);
      out.push({ column: col.id, op: f.op, value });
    }
  }
  return out;
}

function recordsQuery(table, view, pageSize) {
  const params = new URLSearchParams({ limit: String(pageSize), offset: String(view.page * pageSize) });
  if (view.sort) params.set("sort", JSON.stringify([view.sort]));
  if (view.q && view.q.trim()) params.set("q", view.q.trim());
  const filters = table ? serverFilters(table, view.filters || []) : [];
  if (filters.length) params.set("filter", JSON.stringify(filters));
  return params.toString();
}

function nextSort(sort, columnId) {
  if (!sort || sort.column !== columnId) return { column: columnId, direction: "asc" };
  if (sort.direction === "asc") return { column: columnId, direction: "desc" };
  return null;
}

const FIELD = "border rounded px-1 bg-background text-xs";

function FilterRow({ table, filter, onChange, onRemove }) {
  const col = table.columns.find((c) => c.id === filter.column) || table.columns[0];
  const ops = opsOf(col);
  return (
    <div className="flex items-center gap-1" data-testid="filter-row">
      <select className={FIELD} aria-label="Filter column" value={col.id}
        onChange={(e) => {
          const next = table.columns.find((c) => c.id === e.target.value);
          const nextOps = opsOf(next);
          const op = nextOps.includes(filter.op) ? filter.op : nextOps[0];
          onChange({ column: next.id, op, value: op === "status" ? "error" : "" });
        }}>
        {table.columns.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
      </select>
      <select className={FIELD} aria-label="Filter condition" value={filter.op}
        onChange={(e) => onChange({ ...filter, op: e.target.value, value: e.target.value === "status" ? "error" : filter.value })}>
        {ops.map((op) => <option key={op} value={op}>{OP_LABEL[op]}</option>)}
      </select>
      {filter.op === "status" ? (
        <select className={FIELD} aria-label="AI status" value={filter.value || "error"}
          onChange={(e) => onChange({ ...filter, value: e.target.value })}>
          {Object.keys(AI_FILTERS).map((s) => <option key={s} value={s}>{AI_FILTER_LABEL[s]}</option>)}
        </select>
      ) : NO_VALUE.includes(filter.op) ? null : col.type === "boolean" ? (
        <select className={FIELD} aria-label="Filter value" value={filter.value || ""}
          onChange={(e) => onChange({ ...filter, value: e.target.value })}>
          <option value="">…</option><option value="true">Yes</option><option value="false">No</option>
        </select>
      ) : col.options && col.options.length && ["eq", "ne", "contains"].includes(filter.op) ? (
        <select className={FIELD} aria-label="Filter value" value={filter.value || ""}
          onChange={(e) => onChange({ ...filter, value: e.target.value })}>
          <option value="">…</option>
          {col.options.map((o) => <option key={o} value={o}>{o}</option>)}
        </select>
      ) : (
        <input className={FIELD} aria-label="Filter value" placeholder="value" value={filter.value || ""}
          onChange={(e) => onChange({ ...filter, value: e.target.value })} />
      )}
      <button className="text-xs px-1" title="Remove this condition" aria-label="Remove filter" onClick={onRemove}>
        <X size={12} />
      </button>
    </div>
  );
}

function FilterPanel({ table, filters, setFilters }) {
  const first = table.columns[0];
  return (
    <div className="flex flex-col gap-1 p-2 border rounded" data-testid="filter-panel" style={{ background: COLOR.panel }}>
      {filters.map((f, i) => (
        <FilterRow key={i} table={table} filter={f}
          onChange={(next) => setFilters(filters.map((old, j) => (j === i ? next : old)))}
          onRemove={() => setFilters(filters.filter((_, j) => j !== i))} />
      ))}
      <div className="flex gap-1">
        <Button size="sm" variant="outline" onClick={() => setFilters([...filters, { column: first.id, op: opsOf(first)[0], value: opsOf(first)[0] === "status" ? "error" : "" }])}>
          <Plus size={12} className="mr-1" /> Add condition
        </Button>
        {filters.length ? <Button size="sm" variant="ghost" onClick={() => setFilters([])}>Clear filters</Button> : null}
      </div>
    </div>
  );
}
// ==== end of live/filters.jsx ====

// ==== pasted from live/edits.jsx (edit public/elements/live/edits.jsx, then `make elements`) ====
// Cell edits through the outbox (live/outbox.jsx): an edit is kept in the browser first, shown at once
// (in italics until saved), then sent; a paste of a block goes as one change when the server answers.
// A row added while the server cannot be reached is kept there too, shown below the page's rows
// (`newRows`) until the server made it. `offline` follows whether the server could be reached at the
// last try.
function useEdits({ tableId, accountId, setRows, setNotice }) {
  const [entries, setEntries] = useState([]);
  // drawn again (Chainlit does so when its own connection drops) while the browser knows it is offline:
  // say so at once rather than after the next request fails
  const [offline, setOfflineState] = useState(() => navigator.onLine === false);
  const offlineRef = useRef(navigator.onLine === false);
  const entriesRef = useRef([]);
  const account = useRef(accountId); // read through the ref: the poll keeps the handlers of an older render
  account.current = accountId;

  function setOffline(value) {
    offlineRef.current = value;
    setOfflineState(value);
  }

  async function refresh() {
    try {
      const all = account.current ? await outboxList(tableId, account.current) : [];
      entriesRef.current = all;
      setEntries(all);
    } catch (e) {
      setNotice("This browser keeps no offline copy (its storage is off): edits are sent straight away.");
    }
  }

  function putCell(recordId, columnId, cell) {
    setRows((old) => old.map((r) => (r.id === recordId ? { ...r, cells: { ...r.cells, [columnId]: cell } } : r)));
  }

  // a new row the server made: it takes the place of its outbox entry at once (never shown twice)
  function putAdded(entry, record) {
    entriesRef.current = entriesRef.current.filter((e) => e.seq !== entry.seq);
    setEntries(entriesRef.current);
    setRows((old) => (old.some((r) => r.id === record.id) ? old : [...old, record]));
    setNotice(`Row ${record.id} added.`);
    refresh(); // a cell typed while it was on its way now waits as an edit of the made row
  }

  async function flush() {
    if (!account.current) return;
    const result = await outboxReplay(tableId, account.current,
      (entry, got) => (entry.kind === "add" ? putAdded(entry, got) : putCell(entry.record_id, entry.column_id, got)));
    setOffline(result === "unreachable");
    if (result === "failed") setNotice("The server could not save some edits just now; they are kept here and sent again.");
    await refresh();
    // a new row refused: the bar above the grid says why ("kept until the server answers" no longer holds)
    if (entriesRef.current.some((e) => e.kind === "add" && e.state === "refused")) setNotice(null);
  }

  useEffect(() => {
    setEntries([]);
    entriesRef.current = [];
    refresh().then(() => { if (entriesRef.current.some((e) => e.state === "waiting")) flush(); });
  }, [tableId, accountId]);

  // after every answer of the server (or failure to answer): send what waits once it answers again
  function reach(ok) {
    if (!ok) { setOffline(true); return; }
    const was = offlineRef.current;
    if (was) setOffline(false);
    if (was || entriesRef.current.some((e) => e.state === "waiting")) flush();
  }

  function pendingOf(recordId, columnId) {
    if (isNewRow(recordId)) {
      const add = entries.find((e) => e.temp_id === recordId);
      return add && columnId in add.values ? { state: add.state, value: add.values[columnId], message: add.message } : null;
    }
    return entries.find((e) => e.kind !== "add" && e.record_id === recordId && e.column_id === columnId) || null;
  }

  // the rows added here and not made by the server yet, as rows of the grid (their cells at version 0)
  const newRows = entries.filter((e) => e.kind === "add").map((e) => ({
    id: e.temp_id, adding: e,
    cells: Object.fromEntries(Object.entries(e.values).map(([c, value]) => [c, { value, version: 0, status: "idle" }])),
  }));

  // A row from the Add row form, kept in the outbox and sent from there (`tried`: a direct attempt under
  // `key` got no answer): false when this browser cannot keep it (the caller says so and leaves the form
  // as typed).
  async function addRow(values, texts, key, tried) {
    if (!account.current) return false;
    try {
      await outboxAddRow({ table_id: tableId, account_id: account.current, values, texts, key, tried });
    } catch (e) {
      return false;
    }
    await refresh();
    flush();
    return true;
  }

  // New rows not made yet, deleted: they just leave the outbox.
  async function dropNewRows(tempIds) {
    for (const e of entriesRef.current) if (e.kind === "add" && tempIds.includes(e.temp_id)) await outboxDrop(e.seq);
    await refresh();
  }

  async function keep(edit) {
    if (!account.current) return false; // whose edit it is is not known yet: sent straight away instead
    try {
      await outboxKeep(edit);
      return true;
    } catch (e) {
      return false; // no IndexedDB here: the caller sends it straight away
    }
  }

  async function save(row, col, text) {
    const cell = row.cells[col.id] || { value: null, version: 0 };
    const value = parseInput(text, col.type);
    if (!pendingOf(row.id, col.id) && sameValue(value, cell.value)) return;
    const edit = { table_id: tableId, account_id: account.current, record_id: row.id, column_id: col.id, value, text, version: cell.version };
    if (await keep(edit)) {
      await refresh();
      await flush();
      return;
    }
    try {
      putCell(row.id, col.id, await api(`/tables/${tableId}/records/${row.id}/cells/${col.id}`, {
        method: "PATCH", body: JSON.stringify({ value, version: cell.version }) }));
      setNotice(null);
    } catch (e) {
      const current = errorDetails(e).current;
      if (current) putCell(row.id, col.id, current);
      setNotice(e.status === 409 ? `Someone changed "${col.name}" of row ${row.id} first; the current value is shown. You typed "${text}".`
        : `"${col.name}" of row ${row.id} was not saved (${e.message}). You typed "${text}".`);
    }
  }

  // A block from a spreadsheet at `at`: one request, each cell with the version it was based on; cells
  // past the page's rows or the shown columns are left out (and counted).
  async function paste(block, at, rows, columns) {
    const cells = [];
    let outside = 0;
    block.forEach((line, i) => line.forEach((text, j) => {
      const row = rows[at.r + i];
      const col = columns[at.c + j];
      if (!row || !col) { outside += 1; return; }
      const cell = row.cells[col.id] || { version: 0 };
      cells.push({ row, col, text, value: parseInput(text, col.type), version: cell.version });
    }));
    if (!cells.length) return;
    const left = outside ? ` (${plural(outside, "cell")} past the page or the shown columns left out)` : "";
    const viaOutbox = offlineRef.current || cells.some((c) => isNewRow(c.row.id) || pendingOf(c.row.id, c.col.id));
    if (!viaOutbox) {
      try {
        const written = await api(`/tables/${tableId}/cells`, { method: "PATCH", body: JSON.stringify({
          cells: cells.map((c) => ({ record_id: c.row.id, column: c.col.id, value: c.value, version: c.version })) }) });
        written.cells.forEach((cell, n) => putCell(cells[n].row.id, cells[n].col.id, cell));
        setNotice(`Pasted ${plural(cells.length, "cell")} as one change${left}.`);
        return;
      } catch (e) {
        if (!e.unreachable) {
          const problems = errorDetails(e).cells || [];
          for (const p of problems) if (p.current) putCell(p.record_id, p.column_id, p.current);
          const named = problems.slice(0, 3).map((p) => `"${cells[p.index].col.name}" of row ${p.record_id}: ${p.message}`).join("; ");
          setNotice(`Nothing was pasted: ${named || e.message}${problems.length > 3 ? "; …" : ""}. The current values are shown; paste again to write over them.`);
          return;
        }
        setOffline(true);
      }
    }
    let kept = 0;
    for (const c of cells) {
      const edit = { table_id: tableId, account_id: account.current, record_id: c.row.id, column_id: c.col.id, value: c.value, text: c.text, version: c.version };
      if (await keep(edit)) kept += 1;
    }
    await refresh();
    if (kept < cells.length) {
      setNotice(`The server cannot be reached and this browser could keep only ${kept} of ${plural(cells.length, "pasted cell")}: paste again once it answers.`);
      return;
    }
    setNotice(`Pasted ${plural(cells.length, "cell")}: kept in this browser until the server answers${left}.`);
    await flush();
  }

  async function keepMine(entry) {
    await outboxPut({ ...entry, state: "waiting", version: entry.current ? entry.current.version : entry.version, current: null, message: null });
    await refresh();
    await flush();
  }

  async function keepTheirs(entry) {
    await outboxDrop(entry.seq);
    if (entry.current) putCell(entry.record_id, entry.column_id, entry.current);
    await refresh();
  }

  async function discard(entry) {
    await outboxDrop(entry.seq);
    await refresh();
  }

  return { entries, newRows, offline, setOffline, reach, flush, pendingOf, save, paste, addRow, dropNewRows, keepMine,
           keepTheirs, discard };
}
// ==== end of live/edits.jsx ====

// ==== pasted from live/actions.jsx (edit public/elements/live/actions.jsx, then `make elements`) ====
// What the live view does to rows and AI cells: retry a column's failed cells (through the chat when it
// answers), regenerate / recompute / unpin one AI cell, add a row (kept in the browser's outbox when the
// server cannot be reached), delete the selected rows. Each tells the person what happened in the notice
// line and leaves what they typed in place when it fails.
const RETRY_ACTION = "live_retry_failed";

function useRowActions({ tableId, table, view, setView, total, pageSize, locked, busy, setBusy, setNotice, loadStatus, load,
                         adding, setAdding, selected, setSelected, setConfirmDelete, setActive, setUndo, edits }) {
  // Through the chat session when it answers (the conversation then follows the fill with its live
  // progress message, as for any fill), else straight through the REST API.
  async function retryFailed(col) {
    if (locked || busy) return;
    setBusy(col.id);
    const cells = (n) => `${n} failed cell${n === 1 ? "" : "s"} of "${col.name}"`;
    try {
      let answer = null;
      try {
        if (typeof callAction === "function") {
          const res = await callAction({ name: RETRY_ACTION, payload: { table_id: tableId, column_id: col.id } });
          answer = res && res.response;
        }
      } catch (e) {
        answer = null; // no chat session to take it (or no such action there): the REST call below
      }
      if (answer && answer.ok) {
        setNotice(answer.total ? `Retrying ${cells(answer.total)}: progress in the chat.` : `No failed cells of "${col.name}" left to retry.`);
      } else if (answer && answer.error) {
        setNotice(answer.error);
      } else {
        const job = await api(`/tables/${tableId}/columns/${col.id}/fill`, { method: "POST", body: JSON.stringify({ scope: "failed" }) });
        setNotice(`Retrying ${cells(job.total)}…`);
      }
    } catch (e) {
      setNotice(e.message);
    } finally {
      setBusy(null);
      loadStatus();
    }
  }

  // one AI cell: regenerate, recompute when stale, unpin (a fill of that row, which also drops the pin)
  async function fillCell(row, col, what) {
    setBusy("cell");
    try {
      await api(`/tables/${tableId}/columns/${col.id}/fill`, { method: "POST", body: JSON.stringify({ scope: [row.id] }) });
      const words = { regenerate: "Regenerating", recompute: "Recomputing", unpin: "Unpinned; filling" };
      setNotice(`${words[what]} "${col.name}" of row ${row.id}…`);
    } catch (e) {
      setNotice(e.message);
    } finally {
      setBusy(null);
      loadStatus();
    }
  }

  async function addRow() {
    const values = {};
    const texts = {};
    for (const c of table.columns) {
      const text = adding[c.id];
      if (text !== undefined && text.trim() !== "") {
        values[c.id] = parseInput(text, c.type);
        texts[c.id] = text;
      }
    }
    const key = adding.key || newKey(); // the form's: saved again under it, the add never makes a second row
    const tried = !edits.offline;
    setBusy("add");
    try {
      if (tried) {
        try {
          const made = await api(`/tables/${tableId}/records`, {
            method: "POST", headers: { ...HEADERS, "Idempotency-Key": key }, body: JSON.stringify({ values }) });
          setAdding(null);
          setNotice(`Row ${made.id} added.`);
          const lastPage = Math.floor(total / pageSize);
          if (!view.sort && view.page !== lastPage) setView({ page: lastPage });
          else await load();
          return;
        } catch (e) {
          if (!e.unreachable) {
            setNotice(`The row was not added: ${e.message}`); // the new row keeps what was typed
            return;
          }
        }
      }
      // no server: the row waits in this browser, shown in the grid, and is added when the server answers
      if (await edits.addRow(values, texts, key, tried)) {
        setAdding(null);
        setNotice("The new row is kept in this browser and added when the server answers.");
      } else {
        setNotice("The server cannot be reached and this browser cannot keep the row: save it again once the server answers.");
      }
    } finally {
      setBusy(null);
    }
  }

  async function deleteRows() {
    const unsaved = selected.filter(isNewRow); // not made by the server yet: they just leave the outbox
    const saved = selected.filter((id) => !isNewRow(id));
    if (unsaved.length) await edits.dropNewRows(unsaved);
    if (!saved.length) {
      setNotice(`Dropped ${plural(unsaved.length, "new row")} not saved yet.`);
      setSelected([]);
      setConfirmDelete(false);
      setActive(null);
      return;
    }
    setBusy("delete");
    try {
      const done = await api(`/tables/${tableId}/records/delete`, { method: "POST", body: JSON.stringify({ ids: saved }) });
      const said = `Deleted ${plural(done.deleted + unsaved.length, "row")}.`;
      setNotice(said);
      setUndo(done.change_id ? { changeId: done.change_id, count: done.deleted, notice: said } : null);
      setSelected([]);
      setConfirmDelete(false);
      setActive(null);
      await load();
    } catch (e) {
      setNotice(`${unsaved.length ? `Dropped ${plural(unsaved.length, "new row")} not saved yet; the other rows were not deleted` : "Nothing was deleted"}: ${e.message}`);
    } finally {
      setBusy(null);
    }
  }

  // the deletion is a change set of its own: reverting it brings the rows back under their ids
  async function undoDelete(undo) {
    setBusy("undo");
    try {
      await api(`/changes/${undo.changeId}/revert`, { method: "POST", body: "{}" });
      setNotice(`Brought back ${plural(undo.count, "row")}.`);
      setUndo(null);
      await load();
    } catch (e) {
      setNotice(`The rows could not be brought back: ${e.message}`);
    } finally {
      setBusy(null);
    }
  }

  return { retryFailed, fillCell, addRow, deleteRows, undoDelete };
}
// ==== end of live/actions.jsx ====

// ==== pasted from live/toolbar.jsx (edit public/elements/live/toolbar.jsx, then `make elements`) ====
// The lines above the grid: the table's name with the offline / unsaved / paused badges, the toolbar
// (search, filter and column panels, add and delete rows), a failed load with Retry, Retry failed cells.
function TableHeader({ table, workspace, offline, waiting, locked, viewOnly, children }) {
  return (
    <div className="flex justify-between gap-2" style={{ alignItems: "flex-start" }}>
      <div style={{ minWidth: 0 }}>
        {workspace ? (
          <div className="text-xs text-muted-foreground" data-testid="live-table-workspace">Workspace {workspace}</div>
        ) : null}
        <div className="font-semibold" data-testid="live-table-name">{table ? table.name : "Table"}</div>
        {table && table.description ? <div className="text-xs text-muted-foreground">{table.description}</div> : null}
      </div>
      {/* badges keep their words on one line and wrap as a whole, right-aligned, in a narrow panel */}
      <span className="flex gap-1 items-center" style={{ flexWrap: "wrap", justifyContent: "flex-end", flexShrink: 0, maxWidth: "60%" }}>
        {children}
        {offline ? (
          <Badge variant="outline" data-testid="offline-badge" style={{ color: COLOR.bad, borderColor: COLOR.bad, gap: 4, whiteSpace: "nowrap" }}
            title="The server cannot be reached: edits are kept in this browser and sent when it answers">
            <CloudOff size={12} /> offline
          </Badge>
        ) : null}
        {waiting ? (
          <Badge variant="outline" data-testid="unsaved-count" style={{ color: COLOR.warn, whiteSpace: "nowrap" }}>
            {plural(waiting, "edit")} not saved yet
          </Badge>
        ) : null}
        {viewOnly ? (
          <Badge variant="outline" data-testid="view-only" title="You are a viewer of this workspace: an owner can make you an editor"
            style={{ gap: 4, whiteSpace: "nowrap" }}>
            <Lock size={12} /> view only
          </Badge>
        ) : locked ? (
          <Badge variant="outline" title="Apply or dismiss the proposal in the chat to edit again" style={{ gap: 4, whiteSpace: "nowrap" }}>
            <Lock size={12} /> editing paused: proposal open
          </Badge>
        ) : null}
      </span>
    </div>
  );
}

// A page load that failed: with nothing loaded yet, or over the rows last loaded (`stale`).
function LoadError({ error, loading, onRetry, stale }) {
  const trying = error.unreachable ? (stale ? ": showing what was last loaded, trying again…" : ": trying again…") : "";
  return (
    <div className={`flex items-center gap-2 ${stale ? "text-xs" : ""}`} data-testid="load-error">
      <span style={{ color: COLOR.bad }}>{error.message}{trying}</span>
      {error.query ? null : <Button size="sm" variant="outline" className="h-6" onClick={onRetry} disabled={loading}>Retry</Button>}
    </div>
  );
}

function Toolbar({ view, setQuery, panel, setPanel, hiddenCount, locked, adding, setAdding, selected, setConfirmDelete, loading }) {
  return (
    <div className="flex flex-wrap items-center gap-1">
      <span className="flex items-center gap-1 border rounded px-1">
        <Search size={12} style={MUTED} />
        <input data-testid="grid-search" className="text-xs bg-background outline-none py-1" placeholder="Search…"
          value={view.q} onChange={(e) => setQuery({ q: e.target.value })} style={{ width: 140 }} />
      </span>
      <Button size="sm" variant={panel === "filters" ? "secondary" : "outline"} onClick={() => setPanel(panel === "filters" ? null : "filters")}
        data-testid="filter-button">
        <Filter size={12} className="mr-1" /> Filter{view.filters.length ? ` (${view.filters.length})` : ""}
      </Button>
      <Button size="sm" variant={panel === "columns" ? "secondary" : "outline"} onClick={() => setPanel(panel === "columns" ? null : "columns")}
        data-testid="columns-button">
        <EyeOff size={12} className="mr-1" /> Columns{hiddenCount ? ` (${hiddenCount} hidden)` : ""}
      </Button>
      <Button size="sm" variant="outline" disabled={locked || adding !== null} onClick={() => setAdding({ key: newKey() })} data-testid="add-row">
        <Plus size={12} className="mr-1" /> Add row
      </Button>
      {selected.length ? (
        <Button size="sm" variant="outline" disabled={locked} onClick={() => setConfirmDelete(true)} data-testid="delete-rows"
          style={{ color: COLOR.bad }}>
          <Trash2 size={12} className="mr-1" /> Delete {plural(selected.length, "row")}
        </Button>
      ) : null}
      {loading ? <Loader2 size={12} className="animate-spin" style={MUTED} /> : null}
    </div>
  );
}

function FailedColumns({ columns, aiStatus, locked, busy, onRetry }) {
  if (!columns.length) return null;
  return (
    <div className="flex flex-wrap gap-1">
      {columns.map((c) => (
        <Button key={c.id} size="sm" variant="outline" data-testid="retry-failed" data-column={c.name}
          disabled={locked || busy !== null}
          title={locked ? "Apply or dismiss the proposal in the chat first" : `Fill the failed cells of "${c.name}" again`}
          onClick={() => onRetry(c)}>
          {busy === c.id ? <Loader2 size={12} className="mr-1 animate-spin" /> : <RotateCw size={12} className="mr-1" />}
          Retry {aiStatus[c.id].error} failed: {c.name}
        </Button>
      ))}
    </div>
  );
}
// ==== end of live/toolbar.jsx ====

// ==== pasted from live/clipboard.jsx (edit public/elements/live/clipboard.jsx, then `make elements`) ====
// A spreadsheet's clipboard text (text/plain) as rows of cells. Excel, Google Sheets and LibreOffice
// write tab-separated lines and put a cell holding a tab, a line break or a leading quote in double
// quotes, a quote inside doubled (""). So: a cell that starts with a quote runs to the quote that is
// followed by a tab, a line break or the end, "" in it read as one quote; a quote with no such end is an
// ordinary character (the cell then ends at the next tab or line break), as the spreadsheets read it.
// CRLF and CR count as line breaks; a last line break ends the block and adds no row. Plain JavaScript:
// the tests run it in Chromium as it is.
function parseBlock(text) {
  const s = String(text).replace(/\r\n?/g, "\n");
  const rows = [];
  let row = [];
  let i = 0;
  for (;;) {
    let cell = null;
    if (s[i] === '"') {
      const end = closingQuote(s, i + 1);
      if (end >= 0) {
        cell = s.slice(i + 1, end).replace(/""/g, '"');
        i = end + 1;
      }
    }
    if (cell === null) {
      let j = i;
      while (j < s.length && s[j] !== "\t" && s[j] !== "\n") j += 1;
      cell = s.slice(i, j);
      i = j;
    }
    row.push(cell);
    if (i >= s.length) break;
    if (s[i] === "\n") {
      rows.push(row);
      row = [];
      if (i + 1 >= s.length) return rows; // the line break that ends the block
    }
    i += 1;
  }
  rows.push(row);
  return rows;
}

// Where the quoted cell opened just before `from` ends: its closing quote's index, or -1 when it has none.
function closingQuote(s, from) {
  for (let k = from; k < s.length; k += 1) {
    if (s[k] !== '"') continue;
    if (s[k + 1] === '"') { k += 1; continue; }
    if (k + 1 === s.length || s[k + 1] === "\t" || s[k + 1] === "\n") return k;
  }
  return -1;
}
// ==== end of live/clipboard.jsx ====

// ==== pasted from live/grid.jsx (edit public/elements/live/grid.jsx, then `make elements`) ====
// The grid itself: sortable, resizable headers, a row checkbox for selection, the active cell moved with
// the keyboard (arrows, Tab / Shift+Tab, Enter or typing to edit, Esc, Delete to empty), a block pasted
// from a spreadsheet at the active cell (live/clipboard.jsx), the row being added, and rows added but not
// made by the server yet (kept in the outbox, marked "new"). It only draws and reports: the element owns
// the rows, the outbox and every request.
const DEFAULT_WIDTH = 160;
const MIN_WIDTH = 60;
const ROW_HEAD_WIDTH = 72;

function HeaderCell({ column, width, sort, onSort, onResize, onResized }) {
  const sorted = sort && sort.column === column.id ? sort.direction : null;
  function startResize(e) {
    e.preventDefault();
    e.stopPropagation();
    const startX = e.clientX;
    let now = width;
    const move = (ev) => { now = Math.max(MIN_WIDTH, width + ev.clientX - startX); onResize(column.id, now); };
    const up = () => {
      window.removeEventListener("mousemove", move);
      window.removeEventListener("mouseup", up);
      onResized(column.id, now);
    };
    window.addEventListener("mousemove", move);
    window.addEventListener("mouseup", up);
  }
  return (
    <th className="px-2 py-1 text-left whitespace-nowrap" data-col={column.name} aria-sort={sorted ? `${sorted}ending` : "none"}
      style={{ position: "relative", width, overflow: "hidden" }}>
      <button className="inline-flex items-center gap-1 font-semibold" style={{ maxWidth: width - 16 }} data-testid="sort-header"
        title={`Sort by ${column.name} (click again for descending, a third time for none)`} onClick={() => onSort(column.id)}>
        <span className="truncate">{column.name}</span>
        {column.required ? <span style={{ color: COLOR.bad }}>*</span> : null}
        {column.ai ? <Sparkles size={12} style={{ color: COLOR.ai, flexShrink: 0 }} /> : null}
        {sorted === "asc" ? <ArrowUp size={12} /> : sorted === "desc" ? <ArrowDown size={12} /> : null}
      </button>
      <div className="text-[10px] text-muted-foreground">{typeLabel(column.type)}</div>
      <div data-testid="resize-handle" title="Drag to resize" onMouseDown={startResize}
        style={{ position: "absolute", right: 0, top: 0, bottom: 0, width: 6, cursor: "col-resize", borderRight: `1px solid ${COLOR.border}` }} />
    </th>
  );
}

function CellEditor({ initial, onDone, onDraft }) {
  const finished = useRef(false);
  function finish(how, value) {
    if (finished.current) return;
    finished.current = true;
    onDone(how, value);
  }
  return (
    <input autoFocus data-testid="cell-editor" className="border rounded px-1 w-full bg-background" defaultValue={initial}
      onFocus={(e) => { const n = e.currentTarget.value.length; e.currentTarget.setSelectionRange(n, n); }}
      onKeyDown={(e) => {
        e.stopPropagation();
        if (e.key === "Enter") { e.preventDefault(); finish(e.shiftKey ? "up" : "down", e.currentTarget.value); }
        else if (e.key === "Tab") { e.preventDefault(); finish(e.shiftKey ? "left" : "right", e.currentTarget.value); }
        else if (e.key === "Escape") { e.preventDefault(); finish("cancel", null); }
      }}
      onChange={(e) => onDraft(e.currentTarget.value)}
      onPaste={(e) => e.stopPropagation()}
      onBlur={(e) => finish("stay", e.currentTarget.value)} />
  );
}

// The head of a row added here and not made by the server yet (or refused by it, with the reason).
function NewRowMark({ entry }) {
  const refused = entry.state !== "waiting";
  return (
    <span data-testid="new-row-mark" className="inline-flex items-center gap-1"
      title={refused ? `Not added: ${entry.message}. Type into its cells to correct it, or discard it above.`
        : "A new row, not saved yet: kept in this browser, added when the server answers"}
      style={{ color: refused ? COLOR.bad : COLOR.warn, fontStyle: "italic" }}>
      {refused ? <AlertTriangle size={11} /> : <CloudOff size={11} />} new
    </span>
  );
}

function NewRow({ columns, draft, setDraft, onSave, onCancel, busy }) {
  return (
    <tr className="border-t" data-testid="new-row" style={{ background: TINT.added }}>
      <td className="px-1 py-1">
        <span className="flex gap-1">
          <Button size="sm" variant="outline" className="h-6 px-2" disabled={busy} onClick={onSave} data-testid="new-row-save">Save</Button>
          <button className="text-xs" title="Cancel" aria-label="Cancel new row" onClick={onCancel}><X size={12} /></button>
        </span>
      </td>
      {columns.map((c, j) => (
        <td key={c.id} className="px-1 py-1" data-col={c.name}>
          <input className="border rounded px-1 w-full bg-background" autoFocus={j === 0} aria-label={`New ${c.name}`}
            placeholder={c.ai ? "AI fills it" : c.required ? "required" : ""} value={draft[c.id] || ""}
            onChange={(e) => setDraft({ ...draft, [c.id]: e.target.value })}
            onKeyDown={(e) => { if (e.key === "Enter") onSave(); if (e.key === "Escape") onCancel(); }} />
        </td>
      ))}
    </tr>
  );
}

function Grid(p) {
  const { columns, rows, widths, active, setActive, editing, setEditing, locked } = p;
  const box = useRef(null);
  const allChecked = rows.length > 0 && rows.every((r) => p.selected.includes(r.id));

  function move(dr, dc) {
    if (!rows.length || !columns.length) return;
    let r = active ? active.r + dr : 0;
    let c = active ? active.c + dc : 0;
    if (c >= columns.length) { c = 0; r += 1; }
    if (c < 0) { c = columns.length - 1; r -= 1; }
    setActive({ r: Math.max(0, Math.min(rows.length - 1, r)), c: Math.max(0, Math.min(columns.length - 1, c)) });
  }

  function startEdit(text) {
    if (locked || !active || !rows[active.r]) return;
    const row = rows[active.r];
    const col = columns[active.c];
    setEditing({ row: row.id, col: col.id, text: text !== undefined ? text : show(p.valueOf(row, col)) });
  }

  function onKeyDown(e) {
    if (editing) return;
    const keys = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (keys[e.key]) { e.preventDefault(); move(...keys[e.key]); }
    else if (e.key === "Tab") { e.preventDefault(); move(0, e.shiftKey ? -1 : 1); }
    else if (e.key === "Enter" || e.key === "F2") { e.preventDefault(); startEdit(); }
    else if (e.key === "Escape") { setActive(null); }
    else if ((e.key === "Delete" || e.key === "Backspace") && active && !locked) {
      e.preventDefault();
      p.onSave(rows[active.r], columns[active.c], "");
    } else if (e.key.length === 1 && !e.ctrlKey && !e.metaKey && !e.altKey && active) {
      e.preventDefault();
      startEdit(e.key);
    }
  }

  function onPaste(e) {
    if (editing || !active || locked) return;
    const text = e.clipboardData && e.clipboardData.getData("text/plain");
    if (!text) return;
    e.preventDefault();
    p.onPaste(parseBlock(text), active);
  }

  function done(row, col, how, value) {
    setEditing(null);
    if (how !== "cancel") p.onSave(row, col, value);
    const steps = { down: [1, 0], up: [-1, 0], right: [0, 1], left: [0, -1] };
    if (steps[how]) move(...steps[how]);
    if (box.current) box.current.focus({ preventScroll: true });
  }

  const width = ROW_HEAD_WIDTH + columns.reduce((sum, c) => sum + (widths[c.id] || DEFAULT_WIDTH), 0);
  return (
    <div ref={box} tabIndex={0} data-testid="grid" onKeyDown={onKeyDown} onPaste={onPaste}
      className="overflow-auto border rounded outline-none" style={{ maxHeight: "70vh" }}>
      <table className="text-sm" style={{ borderCollapse: "collapse", tableLayout: "fixed", width }}>
        <colgroup>
          <col style={{ width: ROW_HEAD_WIDTH }} />
          {columns.map((c) => <col key={c.id} style={{ width: widths[c.id] || DEFAULT_WIDTH }} />)}
        </colgroup>
        <thead className="bg-muted" style={{ position: "sticky", top: 0, zIndex: 1 }}>
          <tr>
            <th className="px-2 py-1 text-left text-xs text-muted-foreground">
              <label className="flex items-center gap-1">
                <input type="checkbox" aria-label="Select the rows of this page" checked={allChecked}
                  onChange={() => p.setSelected(allChecked ? [] : rows.map((r) => r.id))} /> #
              </label>
            </th>
            {columns.map((c) => (
              <HeaderCell key={c.id} column={c} width={widths[c.id] || DEFAULT_WIDTH} sort={p.sort}
                onSort={p.onSort} onResize={p.onResize} onResized={p.onResized} />
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={r.id} className="border-t" data-row-id={r.id} data-testid={r.adding ? "unsaved-row" : null}
              style={p.selected.includes(r.id) ? { background: TINT.removed } : r.adding ? { background: TINT.added } : null}>
              <td className="px-2 py-1 text-xs text-muted-foreground"
                style={r.adding ? { boxShadow: `inset 3px 0 0 ${r.adding.state === "waiting" ? COLOR.warn : COLOR.bad}` } : null}>
                <label className="flex items-center gap-1">
                  <input type="checkbox" aria-label={r.adding ? "Select the new row" : `Select row ${r.id}`} checked={p.selected.includes(r.id)}
                    onChange={() => p.setSelected(p.selected.includes(r.id) ? p.selected.filter((x) => x !== r.id) : [...p.selected, r.id])} />
                  {r.adding ? <NewRowMark entry={r.adding} /> : r.id}
                </label>
              </td>
              {columns.map((c, j) => {
                const cell = r.cells[c.id] || { value: null, version: 0, status: "idle" };
                const isActive = active && active.r === i && active.c === j;
                const isEditing = editing && editing.row === r.id && editing.col === c.id;
                const pending = p.pendingOf(r.id, c.id);
                const conflict = pending && pending.state !== "waiting";
                return (
                  <td key={c.id} className="px-2 py-1 align-top" data-col={c.name} data-active={isActive ? "true" : null}
                    title={(locked ? p.lockedWhy || "Editing is paused while a proposal is open" : "Enter, typing or a double-click edits") + " · right-click: history"}
                    onClick={() => setActive({ r: i, c: j })}
                    onContextMenu={(e) => { if (!p.onHistory || r.adding) return; e.preventDefault(); setActive({ r: i, c: j }); p.onHistory({ row: r.id, col: c }); }}
                    onDoubleClick={() => { setActive({ r: i, c: j }); if (!locked) setEditing({ row: r.id, col: c.id, text: show(p.valueOf(r, c)) }); }}
                    style={{
                      cursor: locked ? "default" : "cell", overflow: "hidden",
                      outline: isActive ? `2px solid ${COLOR.busy}` : conflict ? `2px solid ${COLOR.bad}` : "none", outlineOffset: -2,
                    }}>
                    {isEditing ? (
                      <CellEditor initial={editing.text} onDraft={p.onDraft} onDone={(how, value) => done(r, c, how, value)} />
                    ) : (
                      <CellView cell={cell} column={c} pending={pending} />
                    )}
                  </td>
                );
              })}
            </tr>
          ))}
          {p.adding ? (
            <NewRow columns={columns} draft={p.adding} setDraft={p.setAdding} busy={p.addBusy}
              onSave={p.onAddSave} onCancel={() => p.setAdding(null)} />
          ) : null}
        </tbody>
      </table>
    </div>
  );
}
// ==== end of live/grid.jsx ====

// ==== pasted from live/panels.jsx (edit public/elements/live/panels.jsx, then `make elements`) ====
// The bars around the grid: edits the server did not take (keep mine / keep theirs), the AI actions of
// the active cell, the column list, and the confirmation before deleting rows.
function OutboxPanel({ entries, columnName, onKeepMine, onKeepTheirs, onDiscard }) {
  const open = entries.filter((e) => e.state !== "waiting");
  if (!open.length) return null;
  return (
    <div className="flex flex-col gap-1 p-2 border rounded text-xs" style={{ borderColor: COLOR.bad }}>
      {open.map((e) => (
        <div key={e.seq} className="flex flex-wrap items-center gap-2" data-testid={e.state === "conflict" ? "conflict" : "refused"}
          data-row-id={e.record_id} data-col={columnName(e.column_id)}>
          <AlertTriangle size={12} style={{ color: COLOR.bad }} />
          {e.kind === "add" ? (
            <span>The new row was not added: {e.message}. Type into its cells to correct it, or discard it.</span>
          ) : e.state === "conflict" ? (
            <span>
              "{columnName(e.column_id)}" of row {e.record_id} was changed by someone else: yours <b>{show(e.value) || "(empty)"}</b>,
              now <b>{show(e.current ? e.current.value : null) || "(empty)"}</b>.
            </span>
          ) : (
            <span>"{columnName(e.column_id)}" of row {e.record_id} was not saved: {e.message}. You typed <b>{e.text || show(e.value)}</b>.</span>
          )}
          {e.state === "conflict" ? (
            <span className="flex gap-1">
              <Button size="sm" variant="outline" className="h-6" onClick={() => onKeepMine(e)}>Keep mine</Button>
              <Button size="sm" variant="outline" className="h-6" onClick={() => onKeepTheirs(e)}>Keep theirs</Button>
            </span>
          ) : (
            <Button size="sm" variant="outline" className="h-6" onClick={() => onDiscard(e)}>Discard</Button>
          )}
        </div>
      ))}
    </div>
  );
}

// Regenerate, recompute a stale value, or unpin (and refill) the active AI cell: one fill of that row.
function CellActions({ row, column, cell, busy, locked, onFill }) {
  if (!row || !column || !column.ai) return null;
  const running = cell.status === "pending" || cell.status === "computing";
  const off = locked || busy || running;
  return (
    <div className="flex flex-wrap items-center gap-1 text-xs" data-testid="cell-actions">
      <span className="text-muted-foreground">Row {row.id} · {column.name}:</span>
      {cell.pinned ? <span data-testid="cell-pinned" style={{ color: COLOR.ai }}><Pin size={11} className="inline" /> pinned (set by hand)</span> : null}
      {cell.status === "error" && cell.error ? <span style={{ color: COLOR.bad }} title={cell.error}>failed: {cell.error.slice(0, 80)}</span> : null}
      {cell.pinned ? (
        <Button size="sm" variant="outline" className="h-6" disabled={off} onClick={() => onFill("unpin")}
          title="Let the AI fill this cell again">Unpin</Button>
      ) : cell.status === "stale" ? (
        <Button size="sm" variant="outline" className="h-6" disabled={off} onClick={() => onFill("recompute")}
          title="Its inputs changed: compute it again">Recompute</Button>
      ) : (
        <Button size="sm" variant="outline" className="h-6" disabled={off} onClick={() => onFill("regenerate")}
          title="Ask the AI for this cell again">Regenerate</Button>
      )}
      {busy ? <Loader2 size={12} className="animate-spin" /> : null}
    </div>
  );
}

function ColumnsMenu({ columns, hidden, onToggle }) {
  return (
    <div className="flex flex-wrap gap-2 p-2 border rounded text-xs" data-testid="columns-menu" style={{ background: COLOR.panel }}>
      {columns.map((c) => (
        <label key={c.id} className="flex items-center gap-1">
          <input type="checkbox" checked={!hidden.includes(c.id)} onChange={() => onToggle(c.id)} aria-label={`Show ${c.name}`} />
          {c.name}
        </label>
      ))}
    </div>
  );
}

function DeleteConfirm({ count, busy, onConfirm, onCancel }) {
  return (
    <div className="flex items-center gap-2 p-2 border rounded text-xs" data-testid="delete-confirm" style={{ borderColor: COLOR.bad }}>
      <span>Delete {plural(count, "row")}? You can undo it right after.</span>
      <Button size="sm" variant="destructive" className="h-6" disabled={busy} onClick={onConfirm}>Delete</Button>
      <Button size="sm" variant="outline" className="h-6" onClick={onCancel}>Cancel</Button>
    </div>
  );
}
// ==== end of live/panels.jsx ====

// ==== pasted from live/history.jsx (edit public/elements/live/history.jsx, then `make elements`) ====
// A cell's history and the table's AI spend, pasted into LiveTable.jsx (whose `api`, COLOR, MUTED and
// `show` it uses). Right-click a cell: each value it has had, newest first, with when and who or what
// wrote it; an AI value opens to the model, the rows as sent, the raw answer, tokens, cost and time.

function money(usd) {
  return usd >= 1 ? `$${usd.toFixed(2)}` : `$${usd.toFixed(4)}`;
}

function sourceLine(s) {
  const who = {
    edit: "Edited by hand",
    proposal: s.thread_id ? "Applied proposal in a chat" : "Applied proposal",
    ai: "Written by AI",
    import: "Imported",
    revert: "Reverted",
    unknown: "Written",
  }[s.kind] || "Written";
  const detail = s.row_created ? " (row added)" : "";
  return `${who}${detail}${s.summary ? ` · ${s.summary}` : ""}`;
}

function AiSource({ s }) {
  if (!s.model) return null;
  const t = s.tokens || {};
  return (
    <details className="text-xs mt-1" data-testid="history-ai">
      <summary style={{ cursor: "pointer", ...MUTED }}>
        {s.model} · {t.input || 0} in ({t.cached || 0} cached) / {t.output || 0} out tokens · {money(s.cost_usd || 0)}
        {" "}for {s.rows_in_call || 1} row{s.rows_in_call === 1 ? "" : "s"} · {Math.round(s.duration_ms || 0)} ms
        {s.attempts > 1 ? ` · ${s.attempts} attempts` : ""}
      </summary>
      <div className="mt-1 font-semibold">Prompt as sent</div>
      <pre className="whitespace-pre-wrap border rounded p-1" style={{ maxHeight: 160, overflow: "auto" }}>{s.prompt || "(not kept)"}</pre>
      <div className="mt-1 font-semibold">Raw answer</div>
      <pre className="whitespace-pre-wrap border rounded p-1" style={{ maxHeight: 160, overflow: "auto" }}>{s.answer || "(none)"}</pre>
    </details>
  );
}

function CellHistory({ tableId, target, onClose }) {
  const [items, setItems] = useState(null);
  const [failure, setFailure] = useState(null);
  useEffect(() => {
    setItems(null);
    api(`/tables/${tableId}/records/${target.row}/cells/${target.col.id}/history?limit=50`)
      .then((body) => setItems(body.items))
      .catch((e) => setFailure(e.message));
  }, [tableId, target.row, target.col.id]);
  return (
    <div className="border rounded p-2 flex flex-col gap-1" data-testid="cell-history">
      <div className="flex items-center justify-between">
        <span className="font-semibold text-sm">History of “{target.col.name}”, row {target.row}</span>
        <Button size="sm" variant="ghost" onClick={onClose} aria-label="Close history">×</Button>
      </div>
      {failure ? <div className="text-xs" style={{ color: COLOR.bad }}>{failure}</div> : null}
      {items === null && !failure ? <div className="text-xs" style={MUTED}>Loading…</div> : null}
      {(items || []).map((v, i) => (
        <div key={i} className="border-t pt-1 text-sm" data-testid="history-version" data-kind={v.source.kind}>
          <div className="flex justify-between gap-2">
            <span className="truncate">{v.value === null || v.value === undefined ? <em style={MUTED}>(empty)</em> : show(v.value)}</span>
            <span className="text-xs whitespace-nowrap" style={MUTED}>{new Date(v.at).toLocaleString()}</span>
          </div>
          <div className="text-xs" style={MUTED}>{sourceLine(v.source)}</div>
          {v.source.kind === "ai" ? <AiSource s={v.source} /> : null}
        </div>
      ))}
    </div>
  );
}

function Spend({ tableId, tick }) {
  const [spend, setSpend] = useState(null);
  useEffect(() => {
    api(`/tables/${tableId}/spend`).then(setSpend).catch(() => setSpend(null));
  }, [tableId, tick]);
  if (!spend || !spend.total_usd) return null;
  return (
    <span className="text-xs whitespace-nowrap" style={MUTED} data-testid="live-table-spend"
      title="What the AI columns of this table cost (model calls), today (UTC) and in all">
      AI spend: {money(spend.today_usd)} today · {money(spend.total_usd)} in all
    </span>
  );
}
// ==== end of live/history.jsx ====

const RETRY_LOAD_MS = 3000;

export default function LiveTable() {
  const tableId = props.table_id;
  const pageSize = props.page_size || 50;
  const viewOnly = !!props.view_only; // a viewer of the workspace: the grid reads only
  const locked = !!props.locked || viewOnly;
  // the page last loaded in this tab: a redraw while the server is away still shows the grid to edit
  const pageKey = `tablechat.page.${tableId}`;
  const lastPage = useRef(null);
  if (lastPage.current === null) lastPage.current = readStored(window.sessionStorage, pageKey, { table: null, rows: [], total: 0, cursor: null });
  const [table, setTable] = useState(lastPage.current.table);
  const [rows, setRows] = useState(lastPage.current.rows);
  const [total, setTotal] = useState(lastPage.current.total);
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(false);
  const [notice, setNotice] = useState(null);
  const [undo, setUndo] = useState(null); // the rows just deleted here, while their notice shows: { changeId, count, notice }
  const [editing, setEditing] = useTabState(`tablechat.editing.${tableId}`, null);
  const [active, setActive] = useTabState(`tablechat.active.${tableId}`, null);
  // the ticked rows and the question before deleting them outlast a redraw (one every few seconds while
  // Chainlit's own connection is down): a new row not saved yet can be deleted offline
  const [selected, setSelected] = useTabState(`tablechat.selected.${tableId}`, []);
  const [adding, setAdding] = useTabState(`tablechat.adding.${tableId}`, null);
  const [busy, setBusy] = useState(null); // "add" | "delete" | "cell" | a column id being retried
  const [confirmDelete, setConfirmDelete] = useTabState(`tablechat.confirm-delete.${tableId}`, false);
  const [panel, setPanel] = useState(null); // "filters" | "columns"
  const [historyOf, setHistoryOf] = useState(null); // the cell whose history is open (right-click)
  const [me, setMe] = useState(() => readStored(window.localStorage, "tablechat.me", { id: null }).id);
  const [view, setView] = useView(tableId, props.page);
  const cursor = useRef(lastPage.current.cursor);
  const loads = useRef(0);
  const { aiStatus, loadStatus, statusChanged } = useAiStatus(tableId);
  const edits = useEdits({ tableId, accountId: me, setRows, setNotice });
  const columnPrefs = useColumnPrefs(me, tableId);
  const queryKey = JSON.stringify([view.page, view.sort, view.q, view.filters]);

  async function load() {
    const mine = ++loads.current;
    setLoading(true);
    try {
      const t = await api(`/tables/${tableId}`);
      const recs = await api(`/tables/${tableId}/records?${recordsQuery(t, view, pageSize)}`);
      if (mine !== loads.current) return; // a newer load (the search typed on) answers instead
      setTable(t);
      setRows(recs.items);
      setTotal(recs.total);
      writeStored(window.sessionStorage, pageKey, { table: t, rows: recs.items, total: recs.total, cursor: recs.cursor });
      if (cursor.current === null || recs.cursor > cursor.current) cursor.current = recs.cursor;
      setError(null);
      if (!me) whoAmI();
      edits.reach(true);
    } catch (e) {
      if (mine !== loads.current) return;
      if (e.unreachable) edits.setOffline(true);
      setError({ message: e.status === 404 ? "This table no longer exists." : e.message, unreachable: !!e.unreachable,
                 query: e.status === 422 });
    } finally {
      if (mine === loads.current) setLoading(false);
    }
  }

  // who is signed in: the outbox keeps each edit under its author (the last one seen here while offline)
  function whoAmI() {
    api("/me").then((m) => { setMe(m.id); writeStored(window.localStorage, "tablechat.me", { id: m.id }); }).catch(() => null);
  }

  useEffect(whoAmI, []);


  useEffect(() => {
    const timer = setTimeout(load, table ? SEARCH_DEBOUNCE_MS : 0);
    return () => clearTimeout(timer);
  }, [tableId, queryKey]);

  // a page load that failed for want of a server is tried again until it answers (and at once when the
  // browser says it is online again); the Retry button does the same by hand
  useEffect(() => {
    if (!error || !error.unreachable) return undefined;
    const timer = setInterval(load, RETRY_LOAD_MS);
    return () => clearInterval(timer);
  }, [error && error.unreachable, tableId, queryKey]);

  useEffect(() => {
    const back = () => { load(); edits.flush(); };
    window.addEventListener("online", back);
    return () => window.removeEventListener("online", back);
  }, [tableId, queryKey]);

  // while an edit or a new row could not reach the server, ask it again every few seconds rather than
  // wait for the browser's "online" event: a browser may never send it (one that sees no network but
  // loopback counts itself offline all along), and a server that was down comes back without one
  useEffect(() => {
    if (!edits.offline) return undefined;
    const timer = setInterval(load, RETRY_LOAD_MS);
    return () => clearInterval(timer);
  }, [edits.offline, tableId, queryKey]);

  usePoll(tableId, cursor, {
    reach: edits.reach,
    statusChanged,
    reload: load,
    gone: () => setError({ message: "This table no longer exists." }),
    cells: (changed) => setRows((old) => old.map((r) => (changed[r.id] ? { ...r, cells: { ...r.cells, ...changed[r.id] } } : r))),
  }, [tableId, queryKey]);

  // the form of a row kept in the outbox already (a redraw came between the two, reading the form back from
  // the tab): closed, so that the row is not saved twice
  useEffect(() => {
    if (adding && adding.key && edits.entries.some((e) => e.key === adding.key)) setAdding(null);
  }, [edits.entries, adding && adding.key]);

  // a cell of a new row being edited when the server made the row: the editor moves to the made row
  useEffect(() => {
    const made = editing && isNewRow(editing.row) && CREATED[editing.row];
    if (made && !edits.newRows.some((r) => r.id === editing.row)) {
      setEditing({ ...readStored(window.sessionStorage, `tablechat.editing.${tableId}`, editing), row: made.id });
    }
  }, [edits.newRows.length, editing && editing.row]);

  function setQuery(change) {
    setActive(null);
    setSelected([]);
    setView({ ...change, page: 0 });
  }

  const rowActions = useRowActions({ tableId, table, view, setView, total, pageSize, locked, busy, setBusy, setNotice,
    loadStatus, load, adding, setAdding, selected, setSelected, setConfirmDelete, setActive, setUndo, edits });

  const header = (
    <TableHeader table={table} workspace={props.workspace} offline={edits.offline}
      waiting={edits.entries.filter((e) => e.state === "waiting").length} locked={locked} viewOnly={viewOnly}>
      {table ? <Spend tableId={tableId} tick={total} /> : null}
    </TableHeader>
  );

  if (!table) {
    return (
      <div className="flex flex-col gap-2 p-3 text-sm" data-testid="live-table">
        {header}
        {error ? <LoadError error={error} loading={loading} onRetry={load} /> : (
          <span className="text-muted-foreground"><Loader2 size={14} className="animate-spin inline" /> Loading table…</span>
        )}
      </div>
    );
  }

  const columns = table.columns.filter((c) => !columnPrefs.prefs.hidden.includes(c.id));
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const first = total === 0 ? 0 : view.page * pageSize + 1;
  const last = Math.min(total, (view.page + 1) * pageSize);
  const narrowed = (view.q && view.q.trim()) || serverFilters(table, view.filters).length > 0;
  const failedColumns = table.columns.filter((c) => c.ai && (aiStatus[c.id] || {}).error > 0);
  const shownRows = edits.newRows.length ? [...rows, ...edits.newRows] : rows; // and the rows added here, not made yet
  const activeRow = active && shownRows[active.r];
  const activeCol = active && columns[active.c];
  const valueOf = (r, c) => { const p = edits.pendingOf(r.id, c.id); return p ? p.value : (r.cells[c.id] || {}).value; };
  const columnName = (id) => (table.columns.find((c) => c.id === id) || { name: "a deleted column" }).name;

  return (
    <div className="flex flex-col gap-2 w-full" data-testid="live-table">
      {header}
      <Toolbar view={view} setQuery={setQuery} panel={panel} setPanel={setPanel} hiddenCount={columnPrefs.prefs.hidden.length}
        locked={locked} adding={adding} setAdding={setAdding} selected={selected} setConfirmDelete={setConfirmDelete} loading={loading} />
      {panel === "filters" ? <FilterPanel table={table} filters={view.filters} setFilters={(filters) => setQuery({ filters })} /> : null}
      {panel === "columns" ? <ColumnsMenu columns={table.columns} hidden={columnPrefs.prefs.hidden} onToggle={columnPrefs.toggleHidden} /> : null}
      {confirmDelete && selected.length ? (
        <DeleteConfirm count={selected.length} busy={busy === "delete"} onConfirm={rowActions.deleteRows} onCancel={() => setConfirmDelete(false)} />
      ) : null}
      {error ? <LoadError error={error} loading={loading} onRetry={load} stale /> : null}
      {notice ? (
        <div className="text-xs flex items-center gap-2" data-testid="live-notice" style={{ color: COLOR.warn }}>
          <span>{notice}</span>
          {undo && undo.notice === notice ? (
            <Button size="sm" variant="outline" className="h-6" data-testid="undo-delete" disabled={busy === "undo"}
              onClick={() => rowActions.undoDelete(undo)}>Undo</Button>
          ) : null}
        </div>
      ) : null}
      <OutboxPanel entries={edits.entries} columnName={columnName} onKeepMine={edits.keepMine} onKeepTheirs={edits.keepTheirs} onDiscard={edits.discard} />
      <FailedColumns columns={failedColumns} aiStatus={aiStatus} locked={locked} busy={busy} onRetry={rowActions.retryFailed} />
      {activeRow && activeCol && !activeRow.adding ? (
        <CellActions row={activeRow} column={activeCol} cell={activeRow.cells[activeCol.id] || { status: "idle" }} busy={busy === "cell"}
          locked={locked} onFill={(what) => rowActions.fillCell(activeRow, activeCol, what)} />
      ) : null}
      <Grid columns={columns} rows={shownRows} widths={columnPrefs.prefs.widths} active={active} setActive={setActive}
        editing={editing} setEditing={setEditing} locked={locked} sort={view.sort}
        onSort={(id) => setQuery({ sort: nextSort(view.sort, id) })}
        onResize={columnPrefs.setWidth} onResized={columnPrefs.keepWidth}
        selected={selected} setSelected={setSelected} pendingOf={edits.pendingOf} valueOf={valueOf}
        onDraft={(text) => editing && keepTabState(`tablechat.editing.${tableId}`, { ...editing, text })}
        onSave={edits.save} onPaste={(block, at) => edits.paste(block, at, shownRows, columns)}
        adding={adding} setAdding={setAdding} addBusy={busy === "add"} onAddSave={rowActions.addRow}
        onHistory={setHistoryOf} lockedWhy={viewOnly ? "View only: you are a viewer of this workspace" : null} />
      {historyOf ? <CellHistory tableId={tableId} target={historyOf} onClose={() => setHistoryOf(null)} /> : null}
      <div className="flex items-center justify-between text-xs text-muted-foreground">
        <span data-testid="live-table-count">
          Rows {first}–{last} of {total}{narrowed ? " matching" : ""}
          {edits.newRows.length ? ` · ${plural(edits.newRows.length, "new row")} not saved yet` : ""}
        </span>
        <span className="flex gap-1">
          <Button size="sm" variant="outline" disabled={view.page === 0} onClick={() => { setActive(null); setView({ page: view.page - 1 }); }}>Previous</Button>
          <Button size="sm" variant="outline" disabled={view.page + 1 >= pages} onClick={() => { setActive(null); setView({ page: view.page + 1 }); }}>Next</Button>
        </span>
      </div>
    </div>
  );
}
