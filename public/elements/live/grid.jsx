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
