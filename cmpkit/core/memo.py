"""Memoisation of pure functions of bytes, bounded in entries and in the size of what one entry keeps.

A run meets the same certificates, algorithm identifiers and PBM parameters again and again,
so their parsed forms are remembered; a peer can send large ones, so an entry whose bytes
arguments exceed ``max_bytes`` is computed but not kept: what the server holds stays small
however many hostile requests arrive.
"""
from __future__ import annotations

import functools


def memo(maxsize: int, max_bytes: int):
    """Like ``functools.lru_cache(maxsize)``, but calls whose bytes arguments together exceed
    ``max_bytes`` are not remembered."""
    def decorate(fn):
        cached = functools.lru_cache(maxsize=maxsize)(fn)

        @functools.wraps(fn)
        def call(*args):
            if len(args) == 1 and type(args[0]) is bytes:  # the common call, one DER item (issue 17)
                return fn(args[0]) if len(args[0]) > max_bytes else cached(args[0])
            size = 0
            for a in args:
                if isinstance(a, (bytes, bytearray)):
                    size += len(a)
                elif isinstance(a, tuple):
                    size += sum(len(x) for x in a if isinstance(x, (bytes, bytearray)))
            return fn(*args) if size > max_bytes else cached(*args)
        code = getattr(fn, "__code__", None)
        if code is not None and code.co_argcount == 1 and not code.co_kwonlyargcount \
                and not code.co_flags & 0x0C and not fn.__defaults__:  # one argument: no *args tuple (issue 17)
            general = call

            @functools.wraps(fn)
            def call(arg):
                if type(arg) is bytes:
                    return fn(arg) if len(arg) > max_bytes else cached(arg)
                return general(arg)
        call.cache_clear = cached.cache_clear
        call.cache_info = cached.cache_info
        return call
    return decorate


MAX_CACHED_CERT = 16 * 1024  # a certificate larger than this (a real one has 1-8 kB) is parsed each time
