// Starts Swagger UI on /api/v1/docs from a file of our own: the page's policy allows no
// inline script.
window.addEventListener("DOMContentLoaded", () => {
  window.SwaggerUIBundle({
    url: document.body.dataset.openapi,
    dom_id: "#swagger-ui",
    deepLinking: true,
  });
});
