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
