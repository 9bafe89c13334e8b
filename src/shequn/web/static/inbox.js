// The inbox page: the queue follows /inbox/stream (server-sent events) and is redrawn from /api/v1/inbox
// without a reload; on an item's page, a canned answer fills the reply. No inline scripts (CSP).
"use strict";
(function () {
  function text(tag, value, href) {
    var td = document.createElement("td");
    if (href) {
      var a = document.createElement("a");
      a.href = href;
      a.textContent = value;
      td.appendChild(a);
    } else {
      td.textContent = value;
    }
    return td;
  }
  function redraw(d, items) {
    var body = document.querySelector("#inbox tbody");
    body.textContent = "";
    items.forEach(function (it) {
      var tr = document.createElement("tr");
      var ref = it.community + "#" + it.n;
      tr.dataset.item = ref;
      if (it.overdue) tr.className = "overdue";
      var waiting = d.minutes.replace("{n}", it.waiting_minutes) + (it.overdue ? " · " + d.overdue : "");
      [text("td", ref, "/inbox/" + encodeURIComponent(it.community) + "/" + it.n), text("td", d.kinds[it.kind] || it.kind),
       text("td", d.statuses[it.status] || it.status), text("td", it.name || it.actor), text("td", it.assignee || "—"),
       text("td", waiting), text("td", (it.text || "").slice(0, 80))].forEach(function (td) { tr.appendChild(td); });
      body.appendChild(tr);
    });
    document.getElementById("no-items").hidden = items.length > 0;
  }
  function queue() {
    var el = document.getElementById("inbox-data");
    if (!el || !window.EventSource) return;
    var d = JSON.parse(el.textContent);
    var status = {active: "active", mine: "active", resolved: "resolved", all: "all"}[d.view];
    var url = "/api/v1/inbox?status=" + status + (d.view === "mine" ? "&mine=true" : "");
    var source = new EventSource("/inbox/stream");
    source.addEventListener("inbox", function (ev) {
      var load = JSON.parse(ev.data);
      document.getElementById("load-open").textContent = load.open;
      document.getElementById("load-overdue").textContent = load.overdue;
      fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
        .then(function (r) { return r.json(); })
        .then(function (items) {
          redraw(d, items);
          var counts = {open: 0, pending: 0};
          items.forEach(function (it) { if (it.status in counts) counts[it.status] += 1; });
          if (d.view !== "mine") document.getElementById("load-pending").textContent = counts.pending;
          document.getElementById("inbox-load").dataset.live = String(Number(document.getElementById("inbox-load").dataset.live) + 1);
        });
    });
  }
  function canned() {
    var area = document.getElementById("reply-text");
    if (!area) return;
    document.querySelectorAll(".canned-answer").forEach(function (b) {
      b.addEventListener("click", function () { area.value = b.dataset.answer; area.focus(); });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { queue(); canned(); });
})();
