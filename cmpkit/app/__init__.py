"""The I/O shell: drives the core's machines with a real clock, real transports, files and the environment."""
