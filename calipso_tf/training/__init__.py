"""Training: the engine, its two loops (model.fit and strategy.run), input stream, distribution,
optimisation, run-dir checks, checkpoints and summaries."""
