"""cmpkit-filedrop: CMP messages carried as files in a drop directory (``filedrop://DIR``)."""
