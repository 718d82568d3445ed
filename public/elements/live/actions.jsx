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
