// Starts Swagger UI in the element that names the OpenAPI document. The
// page carries the document's URL in a data- attribute, so this file is the
// same for every configuration and the page needs no inline script.
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    // The default sends the spec to validator.swagger.io and shows its
    // badge: a request to another site, which the page's CSP refuses anyway.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
