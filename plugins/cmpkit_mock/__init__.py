"""cmpkit_mock: bundled cmpkit plugin."""
