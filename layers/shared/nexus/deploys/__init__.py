"""Safe deploys: what a new function version must answer before it takes traffic."""
