"""One module per node-side phase; each exposes ``run(ctx, ...) -> PhaseResult`` (see ``cenode.__main__``)."""
