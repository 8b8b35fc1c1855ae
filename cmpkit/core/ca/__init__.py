"""The mock server's CA mode, sans-IO: request checks (RFC 9483 sections 3-4, RFC 9810 section 5),
real issuance and the interface of its state. ``machine.CAServer(CASettings, store).handle(der, now)``;
the SQLite store is the shell's (``cmpkit_mock.ca_store``)."""
