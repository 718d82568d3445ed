"""The metric modules; importing one registers its metrics. They run in the order listed here."""

# Run order, not alphabetical: the agent metrics reuse the data-layer metrics' big table.
# isort: off
from bench.metrics import data_layer  # noqa: F401
from bench.metrics import grid  # noqa: F401
from bench.metrics import push  # noqa: F401
from bench.metrics import agent  # noqa: F401
from bench.metrics import chat_scale  # noqa: F401
from bench.metrics import dataio  # noqa: F401
from bench.metrics import worker  # noqa: F401
from bench.metrics import history  # noqa: F401
# isort: on
