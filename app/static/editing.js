/* Editing pages: the territory picker (GET /api/v1/territories?q=) and the coverage preview maps. */
(function () {
  "use strict";

  function setupPicker(input) {
    var url = input.getAttribute("data-territory-search");
    var results = document.getElementById("territory-results");
    var include = document.getElementById("include");
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var q = input.value.trim();
      if (q.length < 2) { results.textContent = ""; return; }
      timer = setTimeout(function () {
        fetch(url + "?q=" + encodeURIComponent(q)).then(function (r) { return r.ok ? r.json() : { results: [] }; })
          .then(function (data) {
            results.textContent = "";
            data.results.forEach(function (t) {
              var li = document.createElement("li");
              var button = document.createElement("button");
              button.type = "button";
              button.className = "secondary";
              button.textContent = "Ajouter " + t.label;
              button.addEventListener("click", function () {
                var line = t.name + " (" + t.code + ")";
                include.value = include.value.trim() ? include.value.trim() + "\n" + line : line;
                results.textContent = "";
                input.value = "";
                input.focus();
              });
              li.appendChild(button);
              results.appendChild(li);
            });
          }).catch(function () {});
      }, 200);
    });
  }

  function setupDatalist(input) {
    var url = input.getAttribute("data-territory-picker");
    var list = input.list;
    if (!list) return;
    input.addEventListener("input", function () {
      var last = input.value.split(",").pop().trim();
      if (last.length < 2) return;
      fetch(url + "?q=" + encodeURIComponent(last)).then(function (r) { return r.ok ? r.json() : { results: [] }; })
        .then(function (data) {
          list.textContent = "";
          data.results.forEach(function (t) {
            var option = document.createElement("option");
            option.value = t.code;
            option.label = t.label;
            list.appendChild(option);
          });
        }).catch(function () {});
    });
  }

  function setupPreview(element) {
    var data = JSON.parse(element.parentNode.querySelector(".preview-data").textContent);
    var map = L.map(element, { scrollWheelZoom: false });
    var tiles = element.getAttribute("data-tile-url");
    if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
    var group = L.featureGroup().addTo(map);
    if (data.old) L.geoJSON(data.old, { style: { color: "#6b6b6b", weight: 2, dashArray: "6 4", fillOpacity: 0.08 } }).addTo(group);
    if (data["new"]) L.geoJSON(data["new"], { style: { color: "#1d5fbf", weight: 3, fillOpacity: 0.18 } }).addTo(group);
    var bounds = group.getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [15, 15] }); else map.setView([46.6, 2.4], 6);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var search = document.querySelector("[data-territory-search]");
    if (search) setupPicker(search);
    document.querySelectorAll("input[data-territory-picker]").forEach(setupDatalist);
    if (window.L) document.querySelectorAll(".preview-map").forEach(setupPreview);
  });
})();
