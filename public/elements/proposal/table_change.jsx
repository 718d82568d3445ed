// The preview of a deletion or a rename (a table, or the chat's workspace), pasted into Proposal.jsx
// (whose helpers and imports it uses). A deletion is red and says what is lost; its button is Delete.

function TableChangePreview() {
  const phase = phaseOf(props);
  const c = props.change || {};
  const deleting = c.action === "delete_table";
  const what = c.action === "rename_workspace" ? "workspace" : "table";
  const tone = deleting ? COLOR.bad : COLOR.border;
  return (
    <div className="flex flex-col gap-2">
      <div
        className="flex items-center justify-between gap-2 flex-wrap rounded px-3 py-2"
        style={{ background: deleting ? TINT.deleted : COLOR.panel, border: `1px solid ${tone}` }}
        data-testid="table-change"
        data-action={c.action}
      >
        <div className="text-sm flex flex-col gap-1">
          <span className="font-semibold" style={deleting ? { color: COLOR.bad } : null}>
            {deleting ? `Delete the table “${c.name}”` : `Rename the ${what} “${c.name}” to “${c.new_name}”`}
          </span>
          {deleting ? (
            <span style={{ color: COLOR.bad }} data-testid="rows-lost">
              {c.rows ? `${plural(c.rows, "row")} will be lost` : "It has no rows"}
              {c.columns ? ` (${plural(c.columns, "column")})` : ""} · workspace {c.workspace}
            </span>
          ) : (
            <span style={MUTED}>workspace {c.workspace}</span>
          )}
        </div>
        {phase.pending ? (
          <Actions phase={phase} label={deleting ? "Delete" : "Apply"} canApply={true} onDismiss={dismiss} onApply={apply} />
        ) : null}
      </div>
      {phase.applying ? <Progress done={false} /> : null}
      <ErrorLine error={props.error} />
      <Outcome fallback={(o) => o.message} />
    </div>
  );
}
