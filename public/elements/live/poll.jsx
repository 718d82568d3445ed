// The transport of the live view: how it learns that the table changed. Changes are pushed over the
// table's event stream (live/feed.jsx `followFeed`), the change feed (`/updates`) polled every POLL_MS
// only while the push is down; the AI status counts are re-read when the feed moved. Nothing outside this
// file and live/feed.jsx times requests.
const POLL_MS = 1000;
// The AI status counts read the whole table (~0.15 s at 100,000 rows): asked again only when the feed
// moved, and no sooner than this many times the last answer took (at least once a poll).
const STATUS_COST_FACTOR = 10;

// failed / queued cells of each AI column over the whole table, not just this page
function useAiStatus(tableId) {
  const [aiStatus, setAiStatus] = useState({});
  const statusClock = useRef({ timer: null, last: 0, took: 0 });

  async function loadStatus() {
    const clock = statusClock.current;
    clock.last = Date.now();
    try {
      const status = await api(`/tables/${tableId}/ai-status`);
      const byColumn = {};
      for (const c of status.columns) byColumn[c.column_id] = c;
      setAiStatus(byColumn);
    } catch (e) {
      // the table view shows what went wrong with the table itself; the counts simply wait
    }
    clock.took = Date.now() - clock.last;
  }

  function statusChanged() {
    const clock = statusClock.current;
    if (clock.timer !== null) return; // the refresh already planned reads this change too
    const gap = Math.max(POLL_MS, STATUS_COST_FACTOR * clock.took);
    clock.timer = setTimeout(() => { clock.timer = null; loadStatus(); }, Math.max(0, clock.last + gap - Date.now()));
  }

  useEffect(() => {
    setAiStatus({});
    loadStatus();
    return () => {
      const clock = statusClock.current;
      if (clock.timer !== null) clearTimeout(clock.timer);
      clock.timer = null;
    };
  }, [tableId]);

  return { aiStatus, loadStatus, statusChanged };
}

// Follow the change feed from `cursor.current` (set by the page load). `on.cells(byRecord)` gets cell
// changes of rows, `on.reload()` is called for anything else (rows added or deleted, columns, the
// table), `on.reach(ok)` after every answer or failure to answer, `on.gone()` when the table is deleted.
function usePoll(tableId, cursor, on, deps) {
  useEffect(() => {
    async function apply(feed) {
      cursor.current = feed.cursor;
      on.statusChanged();
      let reload = feed.more;
      const cellChanges = {};
      for (const c of feed.changes) {
        if (c.kind === "cell") {
          cellChanges[c.record_id] = cellChanges[c.record_id] || {};
          cellChanges[c.record_id][c.column_id] = c.data;
        } else {
          reload = true;
        }
      }
      if (reload) await on.reload();
      else on.cells(cellChanges);
    }
    return followFeed(tableId, () => cursor.current, apply, on.gone, POLL_MS, on.reach);
  }, deps);
}
