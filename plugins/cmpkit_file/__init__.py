"""cmpkit_file: bundled cmpkit plugin."""
