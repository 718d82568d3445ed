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
