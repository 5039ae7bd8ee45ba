"""Where media bytes come from: data: URIs, http(s):// downloads and file:// paths.

policy.py decides which http(s) addresses may be fetched, connections.py enforces it on
every connection, http.py downloads, files.py reads under the allowed folders and
data_uri.py decodes inline base64. The loader (media/loader.py) picks one by the URL's
scheme. What a user may send: docs/media.md#sources.
"""

from .connections import GuardedBackend, Resolver, guarded_client, system_resolver
from .data_uri import data_payload, decode_data_uri, payload_bytes
from .files import LocalFiles
from .http import Fetched, HttpFetcher
from .policy import AddressPolicy, address_problem, host_matches

__all__ = [
    "AddressPolicy",
    "Fetched",
    "GuardedBackend",
    "HttpFetcher",
    "LocalFiles",
    "Resolver",
    "address_problem",
    "data_payload",
    "decode_data_uri",
    "guarded_client",
    "host_matches",
    "payload_bytes",
    "system_resolver",
]
