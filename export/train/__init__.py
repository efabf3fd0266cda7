"""Meta-training of base models, fine-tuning of characters, and the quality report."""
