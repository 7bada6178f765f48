// Polls the change's progress and redraws the steps until it ends. Every
// value goes in through textContent: nothing from the server is parsed as HTML.
(function () {
  "use strict";
  var root = document.getElementById("progress");
  if (!root) return;
  var url = root.getAttribute("data-url");
  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) {
      var span = document.createElement("span");
      span.className = cls;
      span.textContent = text;
      td.appendChild(span);
    } else {
      td.textContent = text;
    }
    tr.appendChild(td);
    return td;
  }
  function draw(p) {
    var status = document.getElementById("status");
    status.textContent = p.status;
    status.className = "status " + p.status;
    document.getElementById("error-detail").textContent = p.error ? p.error.type + ": " + p.error.message : "";
    var tbody = document.querySelector("#steps tbody");
    var rows = document.createDocumentFragment();
    var steps = (p.progress && p.progress.steps) || [];
    // A change runs on one host: while an activity waits for a worker of
    // it, the running steps wait for that host (as the server's template).
    var host = "";
    (p.pendingActivities || []).forEach(function (a) { if (!host && a.waitingForHost) host = a.waitingForHost; });
    steps.forEach(function (s) {
      var w = s.state === "running" ? host : "";
      var tr = document.createElement("tr");
      tr.className = "step " + s.state + (w ? " waiting" : "");
      cell(tr, s.name);
      cell(tr, s.state, "state " + s.state + (w ? " waiting" : ""));
      cell(tr, String(s.attempts));
      var d = cell(tr, s.detail || "");
      if (w) {
        var h = document.createElement("span");
        h.className = "waiting-host";
        h.textContent = " waiting for a worker on host " + w;
        d.appendChild(h);
      }
      if (s.error) {
        var e = document.createElement("span");
        e.className = "error-inline";
        e.textContent = " " + s.error;
        d.appendChild(e);
      }
      rows.appendChild(tr);
    });
    tbody.replaceChildren(rows);
    var ul = document.getElementById("activities");
    var items = document.createDocumentFragment();
    (p.pendingActivities || []).forEach(function (a) {
      var li = document.createElement("li");
      if (a.waitingForHost) {
        li.className = "waiting";
        li.textContent = a.activity + ": waiting for a worker on host " + a.waitingForHost + " (start rewind-worker with REWIND_HOST=" + a.waitingForHost + ")";
        items.appendChild(li);
        return;
      }
      var t = a.activity + ": attempt " + a.attempt;
      if (a.lastFailure) t += ", retrying after: " + a.lastFailure;
      if (a.heartbeat && a.heartbeat.bytesTotal) t += " (" + Math.round(a.heartbeat.bytesDone / 1048576) + "/" + Math.round(a.heartbeat.bytesTotal / 1048576) + " MB)";
      li.textContent = t;
      items.appendChild(li);
    });
    ul.replaceChildren(items);
    if (p.done) document.getElementById("finished").hidden = false;
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        if (p.error && !p.workflowId) { document.getElementById("error-detail").textContent = p.error.message; setTimeout(poll, 2000); return; }
        draw(p);
        if (!p.done) setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  poll();
})();
