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
    defaultModelsExpandDepth: 0
  });
})();
