"""Pictures of predicted triplets."""
