"""cmpkit_pkcs11: bundled cmpkit plugin."""
