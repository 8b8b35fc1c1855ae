"""The mock server's ASGI application (plugins/cmpkit_http/asgi.py) in process, through httpx.ASGITransport
(and hand-made scopes where an HTTP client cannot send the request): the paths openssl cmp -port
serves, 404 after a DER body, 400/411/405/501/505 for faulty requests, Content-Type, keep-alive,
-max_msgs counting and the handler's failures."""
import asyncio
import threading

import httpx
import pytest

from cmpkit_http.asgi import CONTENT_TYPE, MAX_REQUEST, TARGET_KEY, CmpAsgiApp


def seq(payload: bytes) -> bytes:
    """A DER SEQUENCE holding one OCTET STRING (payload < 126 bytes)."""
    return bytes([0x30, len(payload) + 2, 0x04, len(payload)]) + payload


def echo(request: bytes) -> bytes:
    return seq(request)


def exchange(app, *requests):
    """Send (method, path, content, headers) requests in turn; the httpx responses."""
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cmp.test") as client:
            out = []
            for method, path, content, headers in requests:
                request = client.build_request(method, path, content=content,
                                             headers={n: v for n, v in (headers or {}).items() if v is not None})
                for name in [n for n, v in (headers or {}).items() if v is None]:
                    del request.headers[name]
                out.append(await client.send(request))
            return out
    return asyncio.run(go())


def post(app, path="/", content=seq(b"x"), headers=None):
    return exchange(app, ("POST", path, content, headers))[0]


def raw_call(app, scope_items, body=b""):
    """Call the app with a hand-made scope; (status, headers dict, body)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "path": "/", "raw_path": b"/", "query_string": b"", "client": ("127.0.0.1", 1),
             "headers": [(b"content-length", b"%d" % len(body))]}
    scope.update(scope_items)
    sent, events = [], [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return events.pop(0) if events else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


# ------------------------------------------------------------------ served paths (as openssl cmp -port)

@pytest.mark.parametrize("path,status", [
    ("/", 200), ("/pkix/", 200), ("//pkix//", 200), ("/%70kix/", 200),
    ("/pkix", 404), ("/PKIX/", 404), ("/Pkix/", 404), ("/foo", 404), ("/pkix/x", 404),
    ("/.well-known/cmp", 404), ("/pkix/?q=1", 404),
])
def test_served_paths(path, status):
    app = CmpAsgiApp(echo)
    rsp = post(app, path)
    assert rsp.status_code == status
    if status == 200:
        assert rsp.content == seq(seq(b"x"))
        assert rsp.headers["content-type"] == CONTENT_TYPE
        assert rsp.headers["content-length"] == str(len(rsp.content))
    else:
        assert rsp.content == b"" and rsp.headers["connection"] == "close"
    assert app.messages == 1  # a 404 counts for -max_msgs, as with openssl


@pytest.mark.parametrize("target,status", [
    (b"pkix/", 400), (b"http://host/pkix/", 400), (b"/%7", 400), (b"/pkix/%", 400), (b"/%zz", 400),
    (b"/pkix/?", 404), (b"/pkix/#f", 404), (b"///", 200), (b"/pkix%2F%2F", 404),
])
def test_raw_targets_from_the_server(target, status):
    """A server that records the raw request target (cmpkit's uvicorn front does) gets openssl's verdicts."""
    app = CmpAsgiApp(echo)
    assert raw_call(app, {"extensions": {TARGET_KEY: target}}, seq(b"t"))[0] == status
    assert app.messages == (0 if status == 400 else 1)


def test_target_rebuilt_from_raw_path_and_query():
    assert raw_call(CmpAsgiApp(echo), {"raw_path": b"/pkix/", "query_string": b"q"}, seq(b"t"))[0] == 404
    assert raw_call(CmpAsgiApp(echo), {"raw_path": b"/pkix/", "query_string": b""}, seq(b"t"))[0] == 200


def test_404_only_after_a_der_body():
    app = CmpAsgiApp(echo)
    assert post(app, "/foo", b"not der").status_code == 400
    assert app.messages == 0


# ------------------------------------------------------------------ faulty requests

@pytest.mark.parametrize("content,status", [
    (b"garbage", 400), (seq(b"x") + b"trailing", 400), (b"\x30\x05\x01", 400), (b"", 400),
    (b"\x30\x84\x7f\xff\xff\xff", 400), (b"\x30\x80\x00\x00", 400),  # a lying length; indefinite length
    (b"\x30\x83" + (MAX_REQUEST + 1).to_bytes(3, "big") + b"\0" * 10, 400),
])
def test_non_der_bodies_get_400(content, status):
    app = CmpAsgiApp(echo)
    rsp = post(app, "/", content)
    assert rsp.status_code == status and rsp.headers["connection"] == "close"
    assert app.messages == 0


def test_oversized_request_refused_from_its_content_length():
    calls = []
    app = CmpAsgiApp(lambda b: calls.append(b) or echo(b))
    status, headers, _ = raw_call(app, {"headers": [(b"content-length", b"%d" % (MAX_REQUEST + 1))]})
    assert status == 400 and headers[b"connection"] == b"close" and not calls
    status, _, _ = raw_call(app, {"headers": [(b"content-length", b"9" * 5000)]})  # no int() of 5000 digits
    assert status == 400


@pytest.mark.parametrize("value", [b"-1", b"+4", b"4 4", b"0x4", b""])
def test_invalid_content_length(value):
    assert raw_call(CmpAsgiApp(echo), {"headers": [(b"content-length", value)]}, seq(b""))[0] == 400


def test_conflicting_content_lengths():
    headers = [(b"content-length", b"4"), (b"content-length", b"5")]
    assert raw_call(CmpAsgiApp(echo), {"headers": headers}, seq(b""))[0] == 400


def test_missing_content_length_and_chunked_get_411():
    app = CmpAsgiApp(echo)
    assert post(app, headers={"content-length": None}).status_code == 411

    async def chunks():
        yield seq(b"x")
    rsp = post(app, content=chunks())
    assert rsp.status_code == 411 and rsp.headers["connection"] == "close"
    assert app.messages == 0


@pytest.mark.parametrize("method,status", [("GET", 405), ("HEAD", 405), ("PUT", 405), ("DELETE", 405),
                                           ("OPTIONS", 405), ("PATCH", 405), ("BREW", 501), ("PROPFIND", 501)])
def test_other_methods(method, status):
    rsp = exchange(CmpAsgiApp(echo), (method, "/", None, None))[0]
    assert rsp.status_code == status and rsp.headers["connection"] == "close"
    if status == 405:
        assert rsp.headers["allow"] == "POST"


@pytest.mark.parametrize("version", ["2", "2.0", "0.9"])
def test_http_versions_other_than_1_x_get_505(version):
    assert raw_call(CmpAsgiApp(echo), {"http_version": version}, seq(b""))[0] == 505


def test_client_leaving_before_the_body_is_complete_gets_nothing():
    calls = []
    app = CmpAsgiApp(lambda b: calls.append(b) or echo(b))
    sent = []

    async def receive():
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
    scope = {"type": "http", "http_version": "1.1", "method": "POST", "raw_path": b"/", "query_string": b"",
             "headers": [(b"content-length", b"10")]}
    asyncio.run(app(scope, receive, send))
    assert sent == [] and calls == [] and app.messages == 0


# ------------------------------------------------------------------ keep-alive

@pytest.mark.parametrize("version,connection,kept", [
    ("1.1", None, True), ("1.1", b"close", False), ("1.1", b"Keep-Alive, Close", False),
    ("1.0", None, False), ("1.0", b"keep-alive", True), ("1.0", b"Keep-Alive", True),
])
def test_connection_header_of_the_response(version, connection, kept):
    headers = [(b"content-length", b"4")] + ([(b"connection", connection)] if connection else [])
    status, rsp_headers, body = raw_call(CmpAsgiApp(echo), {"http_version": version, "headers": headers}, seq(b""))
    assert status == 200 and body == seq(seq(b""))
    assert rsp_headers[b"connection"] == (b"keep-alive" if kept else b"close")


def test_several_requests_over_one_client():
    app = CmpAsgiApp(echo)
    answers = exchange(app, *[("POST", "/pkix/", seq(bytes([i])), None) for i in range(3)])
    assert [a.content for a in answers] == [seq(seq(bytes([i]))) for i in range(3)]
    assert all(a.headers["connection"] == "keep-alive" for a in answers)
    assert app.messages == 3


# ------------------------------------------------------------------ -max_msgs, handler failures

def test_max_msgs_counts_answers_and_refused_paths_then_503():
    stops = []
    app = CmpAsgiApp(echo, max_msgs=2, on_last=lambda: stops.append(app.messages))
    first, second, third = exchange(app, ("POST", "/foo", seq(b"a"), None), ("POST", "/", seq(b"b"), None),
                                    ("POST", "/", seq(b"c"), None))
    assert (first.status_code, second.status_code, third.status_code) == (404, 200, 503)
    assert second.headers["connection"] == "close"  # the last message ends the connection
    assert stops == [2] and app.messages == 2


def test_refused_path_as_the_last_message_stops_too():
    stops = []
    app = CmpAsgiApp(echo, max_msgs=1, on_last=lambda: stops.append(True))
    assert post(app, "/foo").status_code == 404 and stops == [True]


def test_handler_failure_is_500_and_not_counted():
    def handler(request):
        if request == seq(b"boom"):
            raise RuntimeError("handler bug")
        return echo(request)
    app = CmpAsgiApp(handler, max_msgs=1)
    rsp = post(app, content=seq(b"boom"))
    assert rsp.status_code == 500 and rsp.content == b"" and rsp.headers["connection"] == "close"
    assert app.messages == 0
    assert post(app, content=seq(b"ok")).content == seq(seq(b"ok"))
    assert app.messages == 1


def test_lifespan_is_answered():
    sent, events = [], [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive():
        return events.pop(0)

    async def send(message):
        sent.append(message["type"])
    asyncio.run(CmpAsgiApp(echo)({"type": "lifespan"}, receive, send))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


# ------------------------------------------------------------------ the handler off the event loop

def test_handler_in_a_thread_runs_off_the_loop_one_at_a_time():
    """in_thread: while the handler computes, the loop serves others (here: a coroutine that releases
    it); calls never overlap, so the handler needs no locking."""
    released, active, peak = threading.Event(), [0], [0]

    def handler(request):
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        ok = released.wait(10)  # set by a coroutine: only possible if the loop is not blocked
        active[0] -= 1
        return echo(request) if ok else b"loop was blocked"

    async def go():
        app = CmpAsgiApp(handler, in_thread=True)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cmp.test") as client:
            async def release():
                await asyncio.sleep(0.05)
                released.set()
            answers = await asyncio.gather(*[client.post("/", content=seq(bytes([i]))) for i in range(4)], release())
        return [a.content for a in answers[:4]]
    assert asyncio.run(go()) == [seq(seq(bytes([i]))) for i in range(4)]
    assert peak == [1]


def test_handler_in_the_loop_by_default():
    import threading as th
    names = []
    app = CmpAsgiApp(lambda b: names.append(th.current_thread().name) or echo(b))
    assert post(app).content == seq(seq(b"x"))
    assert names == [th.main_thread().name]
