// /docs/api: Swagger UI over the console's own description; calls ride on the session
// cookie, so writes send the CSRF token like the console's own scripts.
(function () {
  "use strict";
  const root = document.getElementById("swagger-ui");
  const csrf = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.url,
    domNode: root,
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    requestInterceptor: (request) => {
      if (csrf && request.method !== "GET") {
        request.headers["X-CSRFToken"] = csrf.split("=")[1];
      }
      return request;
    },
  });
})();
