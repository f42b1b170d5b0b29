"""The API's request and response bodies, one module per resource.

Naming (see base.py): ``XxxCreate`` comes in, ``XxxPublic`` goes out.
"""
