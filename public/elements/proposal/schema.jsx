// The preview of schema changes, pasted into Proposal.jsx (whose helpers and imports it uses).

// The first changed column may sit past the right edge of a narrow chat: bring it into view.
function showFirstChange(box) {
  if (!box) return;
  const head = box.querySelector('th[data-state="removed"], th[data-state="added"], th[data-state="modified"]');
  if (head && head.offsetLeft + head.offsetWidth > box.clientWidth) box.scrollLeft = Math.max(0, head.offsetLeft - 48);
}

// the state a column is drawn in: as it is today once all its changes are unchecked
function shownState(c) {
  return c.ops.length > 0 && c.ops.every(isUnchecked) ? "unchanged" : c.state;
}

function SchemaHead({ c, phase }) {
  const state = shownState(c);
  const off = state !== c.state;
  const result = c.op !== null && c.op !== undefined ? phase.results[c.op] : null;
  const removed = c.state === "removed" && !off;
  return (
    <th
      className={th}
      data-col={c.name}
      data-state={c.state}
      style={{
        background: TINT[state] || COLOR.panel,
        borderLeft: EDGE[state] ? `3px solid ${EDGE[state]}` : undefined,
        opacity: removed ? 0.85 : 1,
      }}
    >
      <span className="flex items-center gap-1">
        {phase.pending && (c.state !== "unchanged" || c.moved) ? (
          <Checkbox
            checked={!off}
            disabled={phase.applying}
            aria-label={`Include the change to ${c.name}`}
            onCheckedChange={(v) => toggle(c.ops, v === true)}
          />
        ) : null}
        {!phase.pending && result ? <StatusIcon result={result} /> : null}
        <ColumnName column={c} struck={removed} />
        <span style={MUTED}>·</span>
        <TypeBadge type={c.type} />
      </span>
      {c.state === "removed" ? (
        <div className="text-[11px] font-semibold" style={{ color: COLOR.bad }}>Data will be lost</div>
      ) : c.subtitle ? (
        <div className="text-[11px] font-normal" style={{ color: COLOR.warn }}>{c.subtitle}</div>
      ) : c.moved ? (
        <div className="text-[11px] font-normal" style={MUTED}>→ moved</div>
      ) : null}
    </th>
  );
}

function schemaCellStyle(state) {
  const removed = state === "removed";
  return {
    background: state === "added" || removed ? TINT[state] : state === "modified" ? TINT.updated : undefined,
    textDecoration: removed ? "line-through" : "none",
    opacity: removed ? 0.6 : 1,
    color: state === "added" ? COLOR.muted : undefined,
  };
}

function SchemaPreview() {
  const phase = phaseOf(props);
  const changed = props.columns.filter((c) => c.state !== "unchanged" || c.moved);
  const chosen = changed.filter((c) => !c.ops.every(isUnchecked)).length;
  return (
    <div className="flex flex-col gap-2">
      <div
        className="flex items-center justify-between gap-2 flex-wrap rounded px-3 py-2"
        style={{ background: COLOR.panel, border: `1px solid ${COLOR.border}` }}
        data-testid="schema-strip"
      >
        <div className="text-sm">
          <span className="font-semibold" data-testid="proposal-title">
            {titleOf(phase.decided ? "Schema changes" : "Schema changes proposed")}
          </span>
          <span style={MUTED}>{props.revert ? " · " : ": "}{props.summary}</span>
          <span style={MUTED}> · {props.renamed_from ? `${props.renamed_from} → ` : ""}{props.table_name}</span>
        </div>
        {phase.pending ? (
          <Actions phase={phase} label="Apply" canApply={chosen > 0} onDismiss={dismiss} onApply={apply} />
        ) : null}
      </div>
      {phase.applying ? <Progress done={false} /> : null}
      <PreviewTable box={showFirstChange}>
        <thead>
          <tr>
            <th className={th} style={{ width: 1, ...MUTED }}>#</th>
            {props.columns.map((c) => <SchemaHead key={c.key} c={c} phase={phase} />)}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r) => (
            <Row key={r.id}>
              <td className={td + " text-xs"} style={MUTED}>{r.id}</td>
              {props.columns.map((c) => (
                <Cell key={c.key} text={r.cells[c.key]} style={schemaCellStyle(shownState(c))} />
              ))}
            </Row>
          ))}
        </tbody>
      </PreviewTable>
      {props.total_rows > props.rows.length ? (
        <div className="text-xs" style={MUTED}>Showing {props.rows.length} of {props.total_rows} rows.</div>
      ) : null}
      <ErrorLine error={props.error} />
      <Outcome fallback={(o) => o.message} />
    </div>
  );
}
