"""Request and response bodies: separate create, update, filter and response schemas per resource."""
