/* Maillage: the API explorer on /api/docs — Swagger UI 5.32.0, served by the app (vendor/), on the
   published document; no outside validator, nothing fetched elsewhere. The page lists every
   operation without this file. */
(function () {
  "use strict";
  var box = document.getElementById("swagger-ui");
  if (!box || typeof SwaggerUIBundle === "undefined") { return; }
  SwaggerUIBundle({
    url: box.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: false,
    tryItOutEnabled: true,
    displayRequestDuration: true,
    showExtensions: true,
    defaultModelsExpandDepth: 0,
    onComplete: accessible
  });

  /* What Swagger UI leaves out for assistive technologies: a name for its servers' choice, and
     headings that follow the page's own outline (its operation groups are h3 whatever precedes them). */
  function accessible() {
    var servers = document.getElementById("servers");
    if (servers && !servers.getAttribute("aria-label")) { servers.setAttribute("aria-label", "Serveur"); }
    var previous = 0;
    document.querySelectorAll("h1, h2, h3, h4, h5, h6, [role=heading]").forEach(function (h) {
      var level = parseInt(h.getAttribute("aria-level") || h.tagName.slice(1), 10) || previous;
      if (previous && level > previous + 1 && box.contains(h)) {
        level = previous + 1;
        h.setAttribute("role", "heading");
        h.setAttribute("aria-level", String(level));
      }
      previous = level;
    });
  }
  new MutationObserver(function () { accessible(); }).observe(box, { childList: true, subtree: true });
})();
