// Moving between the builder's pages (the URL hash is the route).
export function go(route) {
  window.location.hash = route.page === 'journey' ? `#/j/${encodeURIComponent(route.name)}` : '#/';
}
