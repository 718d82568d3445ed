// How the live table hears of changes: pushed over the table's event stream (GET …/events, server-sent
// events), with the cursor poll of /updates only while the push is down. The stream is read with fetch,
// not EventSource, because a request signed in by the login cookie must carry the X-Requested-With header
// (docs/security.md) and EventSource cannot send headers.
//
// followFeed(tableId, getCursor, onPage, onGone, pollMs) hands every change after getCursor() to
// onPage({changes, cursor, more}) — the shape of /updates; `more` means "read the rows again" — one page at
// a time, in order. When the stream fails it polls every pollMs and opens the stream again by itself
// (after 1, 2, 5, 10, then every 30 s), catching up from the cursor; while the stream says the push is
// down it polls too. onGone() is called when the table is deleted or no longer the caller's.
// Returns a function that stops it all.

const FEED_RETRY_MS = [1000, 2000, 5000, 10000, 30000];
const FEED_HEADERS = { "X-Requested-With": "tablechat", Accept: "text/event-stream" };

function followFeed(tableId, getCursor, onPage, onGone, pollMs, onReach = () => {}) {
  const base = `/api/v1/tables/${tableId}`;
  let stopped = false;
  let pollTimer = null;
  let retryTimer = null;
  let controller = null;
  let failures = 0;
  let chain = Promise.resolve();

  // one page at a time, in order, only what is newer than the cursor (a poll and the stream may overlap)
  function deliver(page) {
    chain = chain.then(async () => {
      if (stopped) return;
      const cur = getCursor();
      const changes = page.changes.filter((c) => cur === null || c.seq > cur);
      if (changes.length === 0 && !page.more) return;
      await onPage({ ...page, changes });
    }).catch(() => {});
    return chain;
  }

  async function poll() {
    if (stopped || getCursor() === null) return;
    try {
      const res = await fetch(`${base}/updates?cursor=${getCursor()}&limit=500`, {
        credentials: "same-origin", headers: { "X-Requested-With": "tablechat" },
      });
      onReach(true);
      if (res.status === 404) { stop(); onGone(); return; }
      if (res.ok) await deliver(await res.json());
    } catch (e) {
      onReach(false); // offline for now: the next poll or the stream catches up
    }
  }

  function startPolling() {
    if (pollTimer === null && !stopped) pollTimer = setInterval(poll, pollMs);
  }

  function stopPolling() {
    if (pollTimer !== null) clearInterval(pollTimer);
    pollTimer = null;
  }

  function handle(name, data) {
    if (name === "change") {
      return deliver({ changes: [data], cursor: data.seq, more: false });
    } else if (name === "reset") {
      return deliver({ changes: [], cursor: data.cursor, more: true });
    } else if (name === "ready" || name === "push") {
      failures = 0;
      if (data.push === false || data.up === false) startPolling(); else stopPolling();
    } else if (name === "gone") {
      stop();
      onGone();
    }
    return null;
  }

  async function listen() {
    if (stopped) return;
    if (getCursor() === null) { retryTimer = setTimeout(listen, 200); return; }
    controller = new AbortController();
    try {
      const res = await fetch(`${base}/events?cursor=${getCursor()}`, {
        credentials: "same-origin", headers: FEED_HEADERS, signal: controller.signal, cache: "no-store",
      });
      onReach(true);
      if (res.status === 404) { stop(); onGone(); return; }
      if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffered = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done || stopped) break;
        buffered += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffered.indexOf("\n\n")) >= 0) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          let name = "message";
          const data = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) name = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
          }
          if (data.length) handle(name, JSON.parse(data.join("\n")));
        }
      }
    } catch (e) {
      // dropped, refused or aborted: poll meanwhile and try again below (the poll tells whether the
      // server answers: a stream refused on the way, by a proxy say, is not the server being away)
    }
    controller = null;
    if (stopped) return;
    startPolling();
    const wait = FEED_RETRY_MS[Math.min(failures, FEED_RETRY_MS.length - 1)];
    failures += 1;
    retryTimer = setTimeout(listen, wait);
  }

  function stop() {
    stopped = true;
    stopPolling();
    if (retryTimer !== null) clearTimeout(retryTimer);
    if (controller !== null) controller.abort();
  }

  listen();
  return stop;
}
