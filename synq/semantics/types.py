"""SynQ types and their ABI and storage properties."""
from __future__ import annotations

from dataclasses import dataclass


class Type:
    """Base class. `is_word`: held in one stack word (value types)."""

    is_word = False

    @property
    def abi(self) -> str:  # ABI type string
        raise NotImplementedError

    @property
    def abi_dynamic(self) -> bool:
        return False

    @property
    def abi_head(self) -> int:
        """Bytes this type takes in an ABI head (32 for dynamic: the offset)."""
        return 32

    @property
    def storage_slots(self) -> int:
        return 1

    @property
    def mem_words(self) -> int:
        """Words a value of this type takes when stored inline in memory (1 for words and pointers)."""
        return 1

    def __str__(self) -> str:
        return self.abi


@dataclass(frozen=True)
class UintT(Type):
    bits: int = 256
    is_word = True

    @property
    def abi(self) -> str:
        return f"uint{self.bits}"

    @property
    def max(self) -> int:
        return (1 << self.bits) - 1

    @property
    def min(self) -> int:
        return 0

    signed = False


@dataclass(frozen=True)
class IntT(Type):
    bits: int = 256
    is_word = True
    signed = True

    @property
    def abi(self) -> str:
        return f"int{self.bits}"

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1

    @property
    def min(self) -> int:
        return -(1 << (self.bits - 1))


@dataclass(frozen=True)
class BoolT(Type):
    is_word = True

    @property
    def abi(self) -> str:
        return "bool"


@dataclass(frozen=True)
class AddressT(Type):
    is_word = True

    @property
    def abi(self) -> str:
        return "address"


@dataclass(frozen=True)
class BytesNT(Type):
    n: int = 32
    is_word = True

    @property
    def abi(self) -> str:
        return f"bytes{self.n}"


@dataclass(frozen=True)
class EnumT(Type):
    name: str = ""
    members: tuple[str, ...] = ()
    is_word = True

    @property
    def abi(self) -> str:
        return "uint8"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class InterfaceT(Type):
    """A contract address seen through a declared interface."""

    name: str = ""
    is_word = True

    @property
    def abi(self) -> str:
        return "address"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class BytesT(Type):
    """Dynamic `bytes`; in memory: pointer -> [length][data padded]."""

    @property
    def abi(self) -> str:
        return "bytes"

    @property
    def abi_dynamic(self) -> bool:
        return True


@dataclass(frozen=True)
class StringT(BytesT):
    @property
    def abi(self) -> str:
        return "string"


@dataclass(frozen=True)
class ArrayT(Type):
    """`T[N]` (size set) or `T[]`; in memory: pointer -> [length if dynamic][element words]."""

    elem: Type = None  # type: ignore[assignment]
    size: int | None = None

    @property
    def abi(self) -> str:
        return f"{self.elem.abi}[{'' if self.size is None else self.size}]"

    def __str__(self) -> str:
        return f"{self.elem}[{'' if self.size is None else self.size}]"

    @property
    def abi_dynamic(self) -> bool:
        return self.size is None or self.elem.abi_dynamic

    @property
    def abi_head(self) -> int:
        return 32 if self.abi_dynamic else self.size * self.elem.abi_head

    @property
    def storage_slots(self) -> int:
        return 1 if self.size is None else self.size * self.elem.storage_slots


@dataclass(frozen=True)
class StructT(Type):
    name: str = ""
    fields: tuple[tuple[str, Type], ...] = ()

    @property
    def abi(self) -> str:
        return "(" + ",".join(t.abi for _, t in self.fields) + ")"

    def __str__(self) -> str:
        return self.name

    @property
    def abi_dynamic(self) -> bool:
        return any(t.abi_dynamic for _, t in self.fields)

    @property
    def abi_head(self) -> int:
        return 32 if self.abi_dynamic else sum(t.abi_head for _, t in self.fields)

    @property
    def storage_slots(self) -> int:
        return sum(t.storage_slots for _, t in self.fields)

    def field_type(self, name: str) -> Type | None:
        for f, t in self.fields:
            if f == name:
                return t
        return None

    def field_index(self, name: str) -> int:
        return [f for f, _ in self.fields].index(name)

    def storage_offset(self, name: str) -> int:
        off = 0
        for f, t in self.fields:
            if f == name:
                return off
            off += t.storage_slots
        raise KeyError(name)


@dataclass(frozen=True)
class MapT(Type):
    key: Type = None  # type: ignore[assignment]
    value: Type = None  # type: ignore[assignment]

    @property
    def abi(self) -> str:
        raise TypeError("mappings have no ABI type")

    def __str__(self) -> str:
        return f"map[{self.key}, {self.value}]"


@dataclass(frozen=True)
class TupleT(Type):
    """The result of a call returning several values."""

    items: tuple[Type, ...] = ()

    @property
    def abi(self) -> str:
        return "(" + ",".join(t.abi for t in self.items) + ")"

    def __str__(self) -> str:
        return "(" + ", ".join(str(t) for t in self.items) + ")"


@dataclass(frozen=True)
class VoidT(Type):
    @property
    def abi(self) -> str:
        return "()"

    def __str__(self) -> str:
        return "nothing"


UINT256 = UintT(256)
INT256 = IntT(256)
UINT8 = UintT(8)
BOOL = BoolT()
ADDRESS = AddressT()
BYTES32 = BytesNT(32)
BYTES = BytesT()
STRING = StringT()
VOID = VoidT()


def base_type(name: str) -> Type | None:
    """The built-in type spelled `name`, or None."""
    if name == "bool":
        return BOOL
    if name == "address":
        return ADDRESS
    if name == "bytes":
        return BYTES
    if name == "string":
        return STRING
    for prefix, cls in (("uint", UintT), ("int", IntT)):
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            bits = int(name[len(prefix):])
            if 8 <= bits <= 256 and bits % 8 == 0 and name[len(prefix)] != "0":
                return cls(bits)
            return None
    if name.startswith("bytes") and name[5:].isdigit() and name[5] != "0":
        n = int(name[5:])
        if 1 <= n <= 32:
            return BytesNT(n)
    return None


def is_integer(t: Type) -> bool:
    return isinstance(t, (UintT, IntT))


def is_bytes_like(t: Type) -> bool:
    return isinstance(t, BytesT)  # bytes and string


def contains_map(t: Type) -> bool:
    if isinstance(t, MapT):
        return True
    if isinstance(t, ArrayT):
        return contains_map(t.elem)
    if isinstance(t, StructT):
        return any(contains_map(ft) for _, ft in t.fields)
    return False
