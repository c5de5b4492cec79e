"""Self-Instruct as distilabel steps."""
