// "Annoter un fichier": move the progress bar while the job runs, show the download when done.
(function () {
  "use strict";
  var box = document.querySelector(".annotate-job");
  if (!box) { return; }
  var bar = box.querySelector("progress");
  var status = box.querySelector(".annotate-status");
  var download = box.querySelector(".annotate-download");
  function plural(n, one, many) { return n + " " + (n > 1 ? many : one); }
  function poll() {
    fetch(box.dataset.stateUrl, {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        bar.value = s.percent;
        bar.textContent = s.percent + " %";
        if (s.error) {
          status.textContent = s.error;
        } else if (s.ready) {
          status.textContent = "Terminé : " + plural(s.total, "ligne annotée", "lignes annotées") + ".";
          download.hidden = false;
        } else if (s.total) {
          status.textContent = plural(s.done, "ligne", "lignes") + " sur " + s.total + " (" + s.percent + " %).";
        }
        if (!s.finished) { setTimeout(poll, 700); }
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  poll();
}());
