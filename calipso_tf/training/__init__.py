"""Training: the engine, its two loops (model.fit and strategy.run), input stream, distribution, optimisation, checkpoints, summaries."""
