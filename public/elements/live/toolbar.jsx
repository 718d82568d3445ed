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
