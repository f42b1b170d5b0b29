"""The metrics service: folds message results into Redis progress tables."""
