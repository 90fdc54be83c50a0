"""crypt(3) through libcrypt (libxcrypt), the library the system's own login uses.

Python's ``crypt`` module is deprecated (and gone in 3.13); libxcrypt is on
every Debian system and knows every hash the system writes: yescrypt
(``$y$``), gost-yescrypt, sha512-crypt (``$6$``), sha256-crypt, md5-crypt
(``$1$``), bcrypt.  ``crypt_rn`` keeps its state in a caller-owned buffer,
so it is safe to call from several worker threads at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hmac
import threading

#: sizeof(struct crypt_data) is 32768 in libxcrypt; leave room to spare.
_DATA_SIZE = 65536
_OUTPUT_SIZE = 384
_lib: ctypes.CDLL | None = None
_lib_lock = threading.Lock()


class CryptUnavailable(RuntimeError):
    """libcrypt could not be loaded."""


def _libcrypt() -> ctypes.CDLL:
    global _lib
    with _lib_lock:
        if _lib is None:
            name = ctypes.util.find_library("crypt") or "libcrypt.so.1"
            try:
                lib = ctypes.CDLL(name, use_errno=True)
            except OSError as exc:
                raise CryptUnavailable(f"cannot load libcrypt: {exc}") from None
            lib.crypt_rn.restype = ctypes.c_char_p
            lib.crypt_rn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
            lib.crypt_gensalt_rn.restype = ctypes.c_char_p
            lib.crypt_gensalt_rn.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p,
                                             ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
            _lib = lib
        return _lib


def crypt(password: bytes, setting: str) -> str | None:
    """Hash ``password`` with ``setting`` (a full hash or a salt); None if the setting is invalid."""
    if b"\0" in password:
        return None  # C strings cannot hold it; such a password never matches
    data = ctypes.create_string_buffer(_DATA_SIZE)
    out = _libcrypt().crypt_rn(password, setting.encode("ascii", "replace"), data, _DATA_SIZE)
    if out is None or out.startswith(b"*"):
        return None
    return out.decode("ascii")


def gensalt(prefix: str | None = None) -> str:
    """A fresh setting for ``prefix`` (e.g. ``$6$``); None means libcrypt's default (yescrypt)."""
    out = ctypes.create_string_buffer(_OUTPUT_SIZE)
    raw_prefix = prefix.encode("ascii") if prefix else None
    result = _libcrypt().crypt_gensalt_rn(raw_prefix, 0, None, 0, out, _OUTPUT_SIZE)
    if result is None:
        raise ValueError(f"libcrypt does not support hash prefix {prefix!r}")
    return result.decode("ascii")


def verify(password: bytes, hashed: str) -> bool:
    """Check ``password`` against a crypt(3) hash, comparing in constant time."""
    computed = crypt(password, hashed)
    if computed is None:
        return False
    return hmac.compare_digest(computed.encode("ascii"), hashed.encode("ascii", "replace"))
