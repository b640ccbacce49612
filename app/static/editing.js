/* Editing pages: the territory picker (GET /api/v1/territories?q=), the coverage preview maps and the
   polygon drawn on a map (Leaflet.draw). */
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

  // Leaflet.draw (vendored, app/static/vendor/README.md) in French: only what the polygon tool says
  function frenchDraw() {
    var d = L.drawLocal;
    d.draw.toolbar.buttons.polygon = "Dessiner un polygone";
    d.draw.toolbar.actions = { title: "Annuler le dessin", text: "Annuler" };
    d.draw.toolbar.finish = { title: "Fermer le polygone", text: "Terminer" };
    d.draw.toolbar.undo = { title: "Retirer le dernier sommet", text: "Retirer le dernier sommet" };
    d.draw.handlers.polygon.tooltip = { start: "Cliquez pour placer le premier sommet.",
      cont: "Cliquez pour placer le sommet suivant.", end: "Cliquez sur le premier sommet pour fermer le polygone." };
    d.draw.handlers.polyline.error = "<strong>Erreur :</strong> les côtés ne peuvent pas se croiser.";
    d.edit.toolbar.buttons = { edit: "Modifier le polygone", editDisabled: "Aucun polygone à modifier",
      remove: "Effacer le polygone", removeDisabled: "Aucun polygone à effacer" };
    d.edit.toolbar.actions = { save: { title: "Garder les changements", text: "Garder" },
      cancel: { title: "Annuler les changements", text: "Annuler" },
      clearAll: { title: "Tout effacer", text: "Tout effacer" } };
    d.edit.handlers.edit.tooltip = { text: "Déplacez les sommets pour modifier le polygone.", subtext: "" };
    d.edit.handlers.remove.tooltip = { text: "Cliquez sur le polygone pour l'effacer." };
  }

  // A polygon drawn on the map goes into the form as GeoJSON (polygon_geojson), as an uploaded one would.
  function setupDraw(element) {
    var block = element.parentNode;
    var data = JSON.parse(block.querySelector(".draw-data").textContent);
    var field = document.getElementById("polygon_geojson");
    var status = block.querySelector(".draw-status");
    var label = document.getElementById("polygon_label");
    frenchDraw();
    var map = L.map(element, { scrollWheelZoom: false });
    var tiles = element.getAttribute("data-tile-url");
    if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
    var area = data.area ? L.geoJSON(data.area, { style: { color: "#6b6b6b", weight: 2, dashArray: "6 4", fillOpacity: 0.08 },
      pointToLayer: function (f, latlng) { return L.circleMarker(latlng, { radius: 5, color: "#6b6b6b" }); } }).addTo(map) : null;
    var drawn = L.featureGroup().addTo(map);
    var style = { color: "#1d5fbf", weight: 3, fillOpacity: 0.18 };
    if (field.value) {
      try { L.geoJSON(JSON.parse(field.value), { style: style }).eachLayer(function (l) { drawn.addLayer(l); }); } catch (e) {}
    }
    map.addControl(new L.Control.Draw({
      draw: { polygon: { allowIntersection: false, showArea: false, shapeOptions: style },
              polyline: false, rectangle: false, circle: false, marker: false, circlemarker: false },
      edit: { featureGroup: drawn }
    }));
    function keep() {
      var layers = drawn.getLayers();
      field.value = layers.length ? JSON.stringify(layers[layers.length - 1].toGeoJSON().geometry) : "";
      status.textContent = layers.length ? "Polygone dessiné : il sera ajouté à la zone à l'enregistrement (« Aperçu de la zone » le montre d'abord)." : "";
    }
    map.on(L.Draw.Event.CREATED, function (e) {
      drawn.clearLayers();
      drawn.addLayer(e.layer);
      if (label && !label.value) label.value = "polygone dessiné";
      keep();
    });
    map.on(L.Draw.Event.EDITED, keep);
    map.on(L.Draw.Event.DELETED, keep);
    var bounds = drawn.getLayers().length ? drawn.getBounds() : (area ? area.getBounds() : null);
    if (bounds && bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20], maxZoom: 14 }); else map.setView([46.6, 2.4], 6);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var search = document.querySelector("[data-territory-search]");
    if (search) setupPicker(search);
    document.querySelectorAll("input[data-territory-picker]").forEach(setupDatalist);
    if (window.L) document.querySelectorAll(".preview-map").forEach(setupPreview);
    if (window.L && L.Control.Draw) document.querySelectorAll(".draw-map").forEach(setupDraw);
  });
})();
