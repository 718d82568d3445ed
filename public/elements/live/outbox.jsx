// The outbox: every cell edit is first written to the browser's IndexedDB (it survives a reload, a closed
// tab and a stopped server), then sent in the order it was made with the version it was based on. An
// entry leaves the outbox only when the server took it, or when the person chose what to do about it:
//   waiting   — not sent yet (or the server could not be reached)
//   conflict  — someone changed the cell first (409): keep mine / keep theirs
//   refused   — the server said no (the row is gone, the value does not fit): shown with its reason
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

// Keep an edit. A later edit of a cell still waiting replaces its value and keeps the version the first
// one was based on (the server has not seen either); an edit of a cell in conflict is the person's answer
// to it: their value, on top of the version now current.
async function outboxKeep(edit) {
  const all = await outboxList(edit.table_id, edit.account_id);
  const same = all.find((e) => e.record_id === edit.record_id && e.column_id === edit.column_id);
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

// One replay at a time per browser tab, even across the remounts Chainlit does on every props update:
// two replays of the same entry would make the second one a false conflict.
const REPLAY = (window.__tablechatReplay = window.__tablechatReplay || { busy: null });

// Send the waiting entries of a table in order. Calls `seen(entry, cell)` for each saved cell and
// returns "done", "unreachable" when the server could not be reached, or "failed" when it answered with
// an error of its own (either way the rest stays waiting, to be sent again later).
async function outboxReplay(tableId, accountId, seen) {
  while (REPLAY.busy) await REPLAY.busy.catch(() => null);
  let release;
  REPLAY.busy = new Promise((resolve) => { release = resolve; });
  try {
    for (const entry of await outboxList(tableId, accountId)) {
      if (entry.state !== "waiting") continue;
      try {
        const cell = await api(`/tables/${tableId}/records/${entry.record_id}/cells/${entry.column_id}`, {
          method: "PATCH",
          body: JSON.stringify({ value: entry.value, version: entry.version }),
        });
        await outboxDrop(entry.seq);
        seen(entry, cell);
      } catch (e) {
        if (e.unreachable) return "unreachable";
        const current = errorDetails(e).current;
        if (e.status === 409 && current && sameValue(current.value, entry.value)) {
          await outboxDrop(entry.seq); // already saved (an earlier replay whose answer was lost)
          seen(entry, current);
        } else if (e.status === 409) {
          await outboxPut({ ...entry, state: "conflict", current: current || null, message: e.message });
        } else if (e.status && e.status < 500) {
          await outboxPut({ ...entry, state: "refused", message: e.message });
        } else {
          return "failed"; // a server error: try again later, keep everything
        }
      }
    }
    return "done";
  } finally {
    REPLAY.busy = null;
    release();
  }
}
