"""Drop-in views for users of other NAS tools (docs/compat.md).

* :mod:`nasforge.compat.nats` — NATS-Bench's (and NAS-Bench-201's) topology API over a nasforge store;
  :mod:`nasforge.compat.nats_size` — its size-space API (``create(path, 'sss')``) over an sss store.
* :mod:`nasforge.compat.naslib` — NASLib's op-index tuples and its zero-cost JSON.
"""
