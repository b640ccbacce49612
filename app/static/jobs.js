/* Maillage: a job page's progress bar, moved by polling the job's JSON state. Without this file
   the page refreshes itself every two seconds (<noscript> meta refresh). A box marked
   data-reload-when-done (the coverage map's frame while its map is drawn) reloads its document
   once the job is done: the same address then answers with the finished map. */
(function () {
  "use strict";
  var box = document.getElementById("travail");
  if (!box || box.getAttribute("data-finished") === "oui") { return; }
  var url = box.getAttribute("data-state-url");
  function part(name) { return box.querySelector('[data-job="' + name + '"]'); }
  function set(name, text) { var el = part(name); if (el) { el.textContent = text; } }
  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (job) {
        if (job.status === "done" && box.getAttribute("data-reload-when-done") === "oui") {
          window.location.reload();
          return;
        }
        part("bar").value = job.percent;
        part("bar").textContent = job.percent + " %";
        set("percent", String(job.percent));
        set("count", job.total ? " (" + job.done + " sur " + job.total + ")" : "");
        set("status_label", job.status_label);
        set("step", job.step && !job.finished ? " — " + job.step : "");
        if (job.error) { set("error", job.error); part("error").hidden = false; }
        if (job.result_url) { part("result_url").href = job.result_url; part("result").hidden = false; }
        if (job.finished) { box.setAttribute("data-finished", "oui"); } else { setTimeout(poll, 1000); }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 500);
})();
