"""cmpkit_http: bundled cmpkit plugin."""
