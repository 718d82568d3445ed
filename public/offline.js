// Keep the chat page when the network drops. Chainlit re-checks the signed-in user (`GET /user`) whenever
// the window regains focus and sends the browser to /login when that check fails for any reason, a
// network failure included: offline, the first click then replaces the whole page (and the live table's
// offline grid) with the browser's "no connection" page. Here a `/user` check that could not reach the
// server at all is answered with the last answer the server gave in this tab; any answer the server
// does give (a 401 after signing out included) goes through unchanged.
(function keepUserWhileOffline() {
  var KEY = "tablechat.user";
  var realFetch = window.fetch.bind(window);

  function isUserCheck(input, init) {
    try {
      var url = new URL(typeof input === "string" ? input : input.url, window.location.href);
      var method = (init && init.method) || (typeof input === "string" ? "GET" : input.method) || "GET";
      return url.origin === window.location.origin && url.pathname.replace(/\/$/, "") === "/user" && method.toUpperCase() === "GET";
    } catch (e) {
      return false;
    }
  }

  window.fetch = function (input, init) {
    if (!isUserCheck(input, init)) return realFetch(input, init);
    return realFetch(input, init).then(function (res) {
      if (res.ok) res.clone().text().then(function (text) { sessionStorage.setItem(KEY, text); }).catch(function () {});
      return res;
    }, function (err) {
      var kept = sessionStorage.getItem(KEY);
      if (kept === null) throw err;
      return new Response(kept, { status: 200, headers: { "Content-Type": "application/json" } });
    });
  };
})();
