"""How the outside starts and steers flows: typed client helpers, the HTTP API and the CLI."""
