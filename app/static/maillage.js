/* Maillage: address autocomplete (ARIA combobox), maps (Leaflet, served by the app), "use my
   position", print button. Every page works without this file. */
(function () {
  "use strict";

  /* ---------------------------------------------------------------- autocomplete */
  function setupAutocomplete(input) {
    var list = document.getElementById("suggestions");
    var status = document.getElementById("suggestions-status");
    var url = input.getAttribute("data-geocode-url");
    var timer = null, active = -1, items = [], lastQuery = "", controller = null;

    function close() {
      list.hidden = true;
      list.innerHTML = "";
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
      items = [];
    }
    function highlight(index) {
      var options = list.querySelectorAll("[role=option]");
      options.forEach(function (o, i) { o.setAttribute("aria-selected", i === index ? "true" : "false"); });
      active = index;
      if (index >= 0 && options[index]) {
        input.setAttribute("aria-activedescendant", options[index].id);
        options[index].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }
    function choose(index) {
      if (!items[index]) return;
      input.value = items[index].label;
      close();
      input.form.submit();
    }
    function render(candidates) {
      list.innerHTML = "";
      items = candidates;
      candidates.forEach(function (c, i) {
        var li = document.createElement("li");
        li.id = "suggestion-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.textContent = c.label;
        var level = document.createElement("span");
        level.className = "muted";
        level.textContent = " (" + c.level_label + ")";
        li.appendChild(level);
        li.addEventListener("mousedown", function (e) { e.preventDefault(); choose(i); });
        list.appendChild(li);
      });
      var open = candidates.length > 0;
      list.hidden = !open;
      input.setAttribute("aria-expanded", open ? "true" : "false");
      status.textContent = open ? candidates.length + (candidates.length > 1 ? " adresses suggérées" : " adresse suggérée") + " : flèches haut et bas pour choisir, Entrée pour valider."
                                : "Aucune adresse suggérée.";
      active = -1;
    }
    function search() {
      var q = input.value.trim();
      if (q.length < 3 || q === lastQuery) { if (q.length < 3) close(); return; }
      lastQuery = q;
      if (controller) controller.abort();
      controller = new AbortController();
      fetch(url + "?limit=6&autocomplete=1&q=" + encodeURIComponent(q), { signal: controller.signal, headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : { candidates: [] }; })
        .then(function (data) { if (input.value.trim() === q) render(data.candidates || []); })
        .catch(function () { /* aborted or offline: the form still works */ });
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(search, 150);
    });
    input.addEventListener("keydown", function (e) {
      if (list.hidden) return;
      if (e.key === "ArrowDown") { e.preventDefault(); highlight(Math.min(active + 1, items.length - 1)); }
      else if (e.key === "ArrowUp") { e.preventDefault(); highlight(Math.max(active - 1, 0)); }
      else if (e.key === "Enter" && active >= 0) { e.preventDefault(); choose(active); }
      else if (e.key === "Escape") { e.preventDefault(); close(); }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
  }

  /* ---------------------------------------------------------------- maps */
  var STYLES = {
    adresse: { radius: 9, color: "#7a0000", weight: 3, fillColor: "#e1000f", fillOpacity: 1 },
    logement: { radius: 7, color: "#0b4f22", weight: 2, fillColor: "#18753c", fillOpacity: 0.9 },
    site: { radius: 6, color: "#00005e", weight: 2, fillColor: "#3558a2", fillOpacity: 0.9 }
  };
  var ZONE_COLOURS = ["#000091", "#a94645", "#18753c", "#716043", "#6a6af4", "#b34000"];

  function baseMap(element) {
    var map = L.map(element, { scrollWheelZoom: false, keyboard: true, zoomSnap: 0.25 });
    var tiles = element.getAttribute("data-tile-url");
    if (tiles) {
      L.tileLayer(tiles, { attribution: element.getAttribute("data-tile-attribution") || "", maxZoom: 19 }).addTo(map);
    }
    return map;
  }

  function escapeText(text) {
    var span = document.createElement("span");
    span.textContent = text == null ? "" : String(text);
    return span.innerHTML;
  }

  function drawFeatures(map, collection) {
    var zoneIndex = 0;
    var reaches = [];  // proximity sites' radius: drawn once the map has a view (a circle needs one)
    var layer = L.geoJSON(collection, {
      style: function (feature) {
        // a colour given by the page (the gap analysis' communes, those within a site's reach)
        if (feature.geometry.type === "Point") {
          // GeoJSON's style reaches the point markers too: keep theirs
          return feature.properties.fill ? { color: "#333", weight: 0.5, fillColor: feature.properties.fill, fillOpacity: 0.9 }
            : STYLES[feature.properties.role] || STYLES.site;
        }
        if (feature.properties.fill) return { color: "#333", weight: 0.6, fillColor: feature.properties.fill, fillOpacity: 0.6 };
        var colour = ZONE_COLOURS[zoneIndex++ % ZONE_COLOURS.length];
        return { color: colour, weight: 2, fillColor: colour, fillOpacity: 0.12 };
      },
      pointToLayer: function (feature, latlng) {
        var p = feature.properties;
        var marker = p.fill ? L.circleMarker(latlng, { radius: 4, color: "#333", weight: 0.5, fillColor: p.fill, fillOpacity: 0.9 })
          : L.circleMarker(latlng, STYLES[p.role] || STYLES.site);
        if (p.radius_m) reaches.push([latlng, p.radius_m]);
        return marker;
      },
      onEachFeature: function (feature, l) {
        var p = feature.properties;
        var text = (p.kind ? p.kind + " : " : "") + (p.name || "") + (p.partner && p.partner !== p.name ? " — " + p.partner : "");
        l.bindTooltip(escapeText(text));
      }
    }).addTo(map);
    layer.reaches = reaches;
    return layer;
  }

  function drawReaches(map, layer) {
    (layer.reaches || []).forEach(function (r) {
      L.circle(r[0], { radius: r[1], color: "#3558a2", weight: 1, dashArray: "4 4", fillOpacity: 0.05, interactive: false })
        .addTo(map).bringToBack();
    });
  }

  /* Commune outlines with their names, fetched for the view (a plain-background map still shows
     where one is); names only when zoomed in enough to read them. */
  function communeLayer(map, url, withNames) {
    var communes = L.geoJSON(null, { style: { color: "#555", weight: 1, fillOpacity: 0.03, interactive: !withNames },
      onEachFeature: function (f, l) {
        if (withNames) l.bindTooltip(escapeText(f.properties.nom), { permanent: true, direction: "center", className: "commune-name" });
        else l.bindTooltip(escapeText(f.properties.nom));
      } }).addTo(map);
    communes.bringToBack();
    // outlines alone from zoom 8 (a few départements: the home map of a regional base), names from 10
    var minZoom = withNames ? 10 : 8;
    var refresh = function () {
      if (!url || map.getZoom() < minZoom) { communes.clearLayers(); return; }
      var b = map.getBounds();
      fetch(url + "?bbox=" + [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(4); }).join(","))
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (g) { if (g) { communes.clearLayers(); communes.addData(g); communes.bringToBack(); } })
        .catch(function () {});
    };
    map.on("moveend", refresh);
    return refresh;
  }

  function setupMap(element) {
    var map = baseMap(element);
    var data = document.getElementById("carte-donnees");
    var communesUrl = element.getAttribute("data-communes");
    if (data) {
      var refreshCommunes = communesUrl ? communeLayer(map, communesUrl, true) : null;
      var layer = drawFeatures(map, JSON.parse(data.textContent));
      var bounds = layer.getBounds();
      if (element.getAttribute("data-focus")) {
        // the address and the sites within 3 km of it, not a whole département's zone
        var focus = null, points = L.latLngBounds([]);
        layer.eachLayer(function (l) { if (l.feature && l.feature.properties.role === "adresse") focus = l.getLatLng(); });
        if (focus) {
          points.extend(focus);
          points.extend(focus.toBounds(1500));
          layer.eachLayer(function (l) { if (l.getLatLng && map.distance(focus, l.getLatLng()) < 3000) points.extend(l.getLatLng()); });
          bounds = points;
        }
      }
      if (bounds.isValid()) map.fitBounds(bounds, { padding: [30, 30], maxZoom: 14 });
      drawReaches(map, layer);
      if (refreshCommunes) refreshCommunes();
    }
    var pick = element.getAttribute("data-pick");
    if (pick) {
      var extent = (element.getAttribute("data-extent") || "").split(",").map(Number);
      if (extent.length === 4 && extent.every(isFinite)) {
        map.fitBounds([[extent[1], extent[0]], [extent[3], extent[2]]]);
      } else {
        map.setView([46.6, 2.4], 6);
      }
      communeLayer(map, communesUrl, false)();
      map.on("click", function (e) {
        window.location.href = pick + "?lon=" + e.latlng.lng.toFixed(6) + "&lat=" + e.latlng.lat.toFixed(6);
      });
    }
  }

  /* ---------------------------------------------------------------- the user's landlord */
  /* Kept in this browser's local storage only (no cookie, nothing sent but the usual form field).
     A card reached without a landlord in its address (a suggestion, a map click) is reloaded
     with the remembered one, so her own landlord's team shows as hers. */
  function setupRemember(select) {
    var key = select.getAttribute("data-remember");
    var stored = null;
    try { stored = window.localStorage.getItem(key); } catch (e) { return; }
    select.addEventListener("change", function () {
      try {
        if (select.value) window.localStorage.setItem(key, select.value);
        else window.localStorage.removeItem(key);
      } catch (e) { /* storage refused: the choice still goes with the form */ }
    });
    var known = Array.prototype.some.call(select.options, function (o) { return o.value && o.value === stored; });
    if (!stored || !known) return;
    var params = new URLSearchParams(window.location.search);
    if (params.has(select.name)) return;  // chosen for this page: left alone
    select.value = stored;
    if (window.location.pathname === select.form.getAttribute("action") && (params.has("adresse") || params.has("lon"))) {
      params.set(select.name, stored);
      window.location.replace(window.location.pathname + "?" + params.toString());
    }
  }

  /* ---------------------------------------------------------------- wide tables */
  /* A table wider than the screen scrolls inside a focusable region (keyboard users can scroll it)
     with a visible hint; the page itself never scrolls sideways. */
  function setupWideTable(table) {
    var wrapper = document.createElement("div");
    wrapper.className = "table-scroll";
    var caption = table.querySelector("caption");
    wrapper.setAttribute("role", "region");
    wrapper.setAttribute("aria-label", caption ? caption.textContent.trim() : "Tableau");
    var hint = document.createElement("p");
    hint.className = "scroll-hint";
    hint.setAttribute("aria-hidden", "true");
    hint.textContent = "Tableau plus large que l'écran : le faire défiler vers la droite →";
    table.parentNode.insertBefore(wrapper, table);
    wrapper.appendChild(table);
    wrapper.parentNode.insertBefore(hint, wrapper);
    var update = function () {
      var wide = wrapper.scrollWidth > wrapper.clientWidth + 1;
      hint.hidden = !wide;
      if (wide) wrapper.setAttribute("tabindex", "0"); else wrapper.removeAttribute("tabindex");
    };
    update();
    window.addEventListener("resize", update);
  }

  /* ---------------------------------------------------------------- territory pickers */
  /* The territories matching what is typed, offered in the field's list: picking one puts its
     typed code in the field (the page then says which territory it retained). */
  function setupTerritoryPicker(input) {
    var list = document.getElementById(input.getAttribute("list"));
    var url = input.getAttribute("data-territories"), timer = null, last = "";
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = input.value.trim();
        if (q.length < 2 || q === last || q.indexOf(":") >= 0) return;
        last = q;
        fetch(url + "?limit=8&q=" + encodeURIComponent(q), { headers: { Accept: "application/json" } })
          .then(function (r) { return r.ok ? r.json() : { results: [] }; })
          .then(function (data) {
            list.innerHTML = "";
            (data.results || []).forEach(function (t) {
              var option = document.createElement("option");
              option.value = t.code;
              option.label = t.label;
              option.textContent = t.label;
              list.appendChild(option);
            });
          })
          .catch(function () {});
      }, 200);
    });
  }

  /* ---------------------------------------------------------------- position */
  function setupPosition(button) {
    var status = document.getElementById("position-status");
    button.addEventListener("click", function () {
      if (!navigator.geolocation) { status.textContent = "Ce navigateur ne donne pas la position."; return; }
      status.textContent = "Recherche de la position…";
      navigator.geolocation.getCurrentPosition(function (pos) {
        window.location.href = button.getAttribute("data-target") + "?lon=" + pos.coords.longitude.toFixed(6) +
          "&lat=" + pos.coords.latitude.toFixed(6);
      }, function () {
        status.textContent = "Position indisponible (refusée ou introuvable) : saisir l'adresse.";
      }, { enableHighAccuracy: true, timeout: 10000 });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var input = document.getElementById("adresse");
    if (input && input.getAttribute("data-geocode-url")) setupAutocomplete(input);
    var map = document.getElementById("carte");
    if (map && window.L) setupMap(map);
    document.querySelectorAll("select[data-remember]").forEach(setupRemember);
    document.querySelectorAll("input[data-territories]").forEach(setupTerritoryPicker);
    document.querySelectorAll("main table:not(.fiche-table)").forEach(setupWideTable);
    var position = document.getElementById("ma-position");
    if (position) setupPosition(position);
    document.querySelectorAll("form[data-busy]").forEach(function (form) {
      form.addEventListener("submit", function () {
        var status = form.querySelector(".busy");
        if (status) status.textContent = form.getAttribute("data-busy");
        var button = form.querySelector("button[type=submit]");
        if (button) button.setAttribute("aria-disabled", "true");
      });
    });
    var print = document.getElementById("imprimer");
    if (print) print.addEventListener("click", function () { window.print(); });
  });
})();
