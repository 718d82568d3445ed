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
