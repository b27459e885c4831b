"""Byte serialization of tensors passed between pipeline stages (and from stage to stage across validators).

Format ``AIVT`` v1, all integers little-endian::

    offset 0  4 bytes  magic b"AIVT"
    offset 4  u8       format version (1)
    offset 5  u8       dtype code (1 float32, 2 int64, 3 float16, 4 bfloat16)
    offset 6  u8       ndim (0..8)
    offset 7  u8       reserved, must be 0
    offset 8  ndim x u32  shape
    then      prod(shape) * itemsize bytes: the elements, C order, little-endian

A decoder refuses anything else (wrong magic, unknown dtype, trailing or missing bytes), so a
malformed stage input fails with a clear error instead of reshaping garbage.
"""
from __future__ import annotations

import struct

import numpy as np
import torch

from .errors import InvalidInputError

MAGIC = b"AIVT"
VERSION = 1
MAX_NDIM = 8
_CODES = {torch.float32: 1, torch.int64: 2, torch.float16: 3, torch.bfloat16: 4}
_DTYPES = {code: dtype for dtype, code in _CODES.items()}
_NUMPY = {1: np.dtype("<f4"), 2: np.dtype("<i8"), 3: np.dtype("<f2"), 4: np.dtype("<i2")}  # bf16 travels as its raw 16 bits


def encode_tensor(tensor: torch.Tensor) -> bytes:
    """Serialize a CPU tensor of a supported dtype to ``AIVT`` bytes."""
    if tensor.dtype not in _CODES:
        raise InvalidInputError(f"cannot serialize dtype {tensor.dtype}; supported: float32, int64, float16, bfloat16")
    if tensor.dim() > MAX_NDIM:
        raise InvalidInputError(f"tensor has {tensor.dim()} dims, at most {MAX_NDIM} are supported")
    code = _CODES[tensor.dtype]
    header = MAGIC + struct.pack("<BBBB", VERSION, code, tensor.dim(), 0)
    header += struct.pack(f"<{tensor.dim()}I", *tensor.shape)
    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.view(torch.int16)
    data = tensor.numpy().astype(_NUMPY[code], copy=False).tobytes()
    return header + data


def decode_tensor(data: bytes) -> torch.Tensor:
    """Parse ``AIVT`` bytes back to a tensor; raises ``InvalidInputError`` on any malformation."""
    data = bytes(data)
    if len(data) < 8 or data[:4] != MAGIC:
        raise InvalidInputError("not an AIVT tensor: missing magic b'AIVT'")
    version, code, ndim, reserved = struct.unpack_from("<BBBB", data, 4)
    if version != VERSION:
        raise InvalidInputError(f"AIVT version {version} is not supported (expected {VERSION})")
    if code not in _DTYPES:
        raise InvalidInputError(f"AIVT dtype code {code} is unknown")
    if ndim > MAX_NDIM or reserved != 0:
        raise InvalidInputError(f"AIVT header is malformed (ndim={ndim}, reserved={reserved})")
    offset = 8 + 4 * ndim
    if len(data) < offset:
        raise InvalidInputError("AIVT header is truncated")
    shape = struct.unpack_from(f"<{ndim}I", data, 8)
    dtype = _NUMPY[code]
    count = int(np.prod(shape, dtype=np.int64)) if ndim else 1
    expected = offset + count * dtype.itemsize
    if len(data) != expected:
        raise InvalidInputError(f"AIVT body has {len(data) - offset} bytes, shape {list(shape)} needs {expected - offset}")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape)
    tensor = torch.from_numpy(array.copy())
    return tensor.view(torch.bfloat16) if code == 4 else tensor
