"""The plugin module registered in the ``cmpkit.plugins`` entry-point group: it declares the URL
scheme it serves. Cheap to import: the transport module loads only when a run uses the scheme."""
from __future__ import annotations

from cmpkit import hookimpl


def open_filedrop(url, config, ctx):
    """The transport for ``filedrop://DIR`` (``config``/``ctx``: the run's Config and LoadContext, unused)."""
    from .transport import FileDropTransport
    return FileDropTransport.from_url(url)


@hookimpl
def cmpkit_transport_schemes():
    return {"filedrop": open_filedrop}
