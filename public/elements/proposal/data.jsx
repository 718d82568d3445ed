// The preview of data changes, pasted into Proposal.jsx (whose helpers and imports it uses).

function countsLine() {
  const c = props.counts || {};
  const parts = [];
  if (c.added) parts.push(plural(c.added, "new row"));
  if (c.updated) parts.push(plural(c.updated, "update"));
  if (c.deleted) parts.push(plural(c.deleted, "deletion"));
  return parts.join(", ");
}

function ResearchLog() {
  const log = props.research_log || [];
  if (!log.length) return null;
  return (
    <details className="text-xs" data-testid="research-log">
      <summary className="cursor-pointer" style={MUTED}>Research log ({plural(log.length, "step")})</summary>
      <ol className="list-decimal ml-5 mt-1 flex flex-col gap-1">
        {log.map((e, i) => (
          <li key={i}>
            {e.query ? <span className="font-medium">{e.query}</span> : null}
            {e.note ? <span>{e.query ? " — " : ""}{e.note}</span> : null}
            {e.source ? <span style={MUTED}> ({e.source})</span> : null}
          </li>
        ))}
      </ol>
    </details>
  );
}

// A row not applied says why under it (the ✗ alone would leave the reason to a tooltip).
function FailedLine({ result }) {
  if (!result || result.ok) return null;
  return (
    <tr data-testid="row-failed">
      <td />
      <td colSpan={props.columns.length + 1} className="px-2 pb-1 text-xs" style={{ color: COLOR.bad }}>
        Not applied: {result.error || "failed"}
      </td>
    </tr>
  );
}

function DataRow({ r, phase }) {
  const proposed = r.op !== null && r.op !== undefined;
  const off = proposed && isUnchecked(r.op);
  return (
    <>
      <Row
        state={r.state}
        off={off}
        data-testid={proposed ? "proposed-row" : "context-row"}
        data-state={r.state}
        data-op={proposed ? r.op : undefined}
      >
        <td className={td}>
          {proposed && phase.pending && !phase.applying ? (
            <Checkbox
              checked={!off}
              aria-label={`Include change ${r.op + 1}`}
              onCheckedChange={(v) => toggle([r.op], v === true)}
            />
          ) : proposed ? (
            <StatusIcon result={phase.results[r.op]} applying={phase.applying && !off} />
          ) : null}
        </td>
        <td className={td + " text-xs"} style={MUTED}>{r.id > 0 ? r.id : "new"}</td>
        {props.columns.map((c) => {
          const change = r.changes && r.changes[c.key];
          return (
            <Cell
              key={c.key}
              text={change && off ? change.was : r.cells[c.key]}
              was={change && !off ? change.was : undefined}
              title={change ? `Was: ${change.was || "(empty)"}` : undefined}
            />
          );
        })}
      </Row>
      {proposed ? <FailedLine result={phase.results[r.op]} /> : null}
    </>
  );
}

function DataPreview() {
  const phase = phaseOf(props);
  const total = props.total_ops || 0;
  const chosen = total - (props.unselected || []).length;
  const allOps = Array.from({ length: total }, (_, i) => i);
  const select = (unselected) => setProps({ unselected, error: null });
  return (
    <div className="flex flex-col gap-2">
      <div
        className="flex flex-col gap-2 rounded px-3 py-2"
        style={{ background: COLOR.panel, border: `1px solid ${COLOR.border}` }}
        data-testid="data-bar"
      >
        <div className="flex items-center justify-between gap-2 flex-wrap">
          <div className="text-sm">
            <span className="font-semibold" data-testid="proposal-title">{titleOf("AI Proposed Changes")}</span>
            <span style={MUTED}> · {countsLine()} · {props.table_name}</span>
          </div>
          {phase.pending ? (
            <Actions phase={phase} label={`Apply ${chosen} of ${total}`} canApply={chosen > 0} onDismiss={dismiss} onApply={apply}>
              <Button variant="ghost" size="sm" disabled={phase.applying} onClick={() => select([])}>Select all</Button>
              <Button variant="ghost" size="sm" disabled={phase.applying} onClick={() => select(allOps)}>Deselect all</Button>
            </Actions>
          ) : null}
          {phase.decided && !props.acknowledged ? (
            <Button size="sm" onClick={() => act("proposal_done")}>Done</Button>
          ) : null}
        </div>
        {phase.applying || phase.decided ? (
          <Progress done={phase.decided} count={(props.progress || {}).done} total={(props.progress || {}).total}
            failed={(props.progress || {}).failed} />
        ) : null}
        <Outcome fallback={(o) => o.message} />
        <ErrorLine error={props.error} />
        <ResearchLog />
      </div>
      <PreviewTable maxHeight={520}>
        <thead style={{ background: COLOR.panel, position: "sticky", top: 0 }}>
          <tr>
            <th className={th} style={{ width: 1 }} />
            <th className={th} style={{ width: 1, ...MUTED }}>#</th>
            {props.columns.map((c) => (
              <th key={c.key} className={th} data-col={c.name}>
                <span className="flex items-center gap-1"><ColumnName column={{ ...c, required: false }} /></span>
                <div className="mt-0.5"><TypeBadge type={c.type} /></div>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r) => <DataRow key={r.id} r={r} phase={phase} />)}
        </tbody>
      </PreviewTable>
      {props.pages > 1 ? (
        <div className="flex items-center justify-between text-xs" style={MUTED}>
          <span>Page {props.page + 1} of {props.pages} · {total} changes</span>
          <span className="flex gap-1">
            <Button size="sm" variant="outline" disabled={props.page === 0 || phase.applying}
              onClick={() => act("proposal_page", { page: props.page - 1 })}><ChevronLeft size={14} /></Button>
            <Button size="sm" variant="outline" disabled={props.page + 1 >= props.pages || phase.applying}
              onClick={() => act("proposal_page", { page: props.page + 1 })}><ChevronRight size={14} /></Button>
          </span>
        </div>
      ) : null}
    </div>
  );
}
