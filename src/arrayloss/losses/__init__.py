"""The public loss functions, one module per family."""
