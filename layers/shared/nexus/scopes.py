"""The token scopes of the HTTP API (API.md, "Auth"): a module of their own, so that a trigger
that names them (the pre-traffic check's probes) does not import the HTTP resolver with them."""

USERS_READ = "users:read"
USERS_WRITE = "users:write"
ANALYTICS_READ = "analytics:read"
ANALYTICS_WRITE = "analytics:write"
ALL_SCOPES = (USERS_READ, USERS_WRITE, ANALYTICS_READ, ANALYTICS_WRITE)
