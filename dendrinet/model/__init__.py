"""The model's definition shared by every engine: its Brian2 equations, built from the
validated model file."""
