"""cmpkit core: ASN.1 model, protection, POPO, options, config files and transaction logic; no I/O."""
