"""Everything that knows Chainlit, one module per idea; app.py wires these handlers to Chainlit's hooks.
Nothing below this package imports Chainlit."""
