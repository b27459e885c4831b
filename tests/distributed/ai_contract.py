"""A Vyper contract that asks the AI precompile (0x0120) from a transaction."""
from functools import lru_cache

SOURCE = '''
# pragma version 0.4.3
event Answer:
    model: String[64]
    result: Bytes[1024]

last: public(Bytes[1024])

@external
def infer(model: String[64], data: Bytes[1024]) -> Bytes[1024]:
    out: Bytes[1152] = raw_call(0x0000000000000000000000000000000000000120, abi_encode(model, data), max_outsize=1152)
    result: Bytes[1024] = abi_decode(out, Bytes[1024])
    self.last = result
    log Answer(model=model, result=result)
    return result

@external
def infer_n(model: String[64], data: Bytes[1024], max_tokens: uint256) -> Bytes[1024]:
    out: Bytes[1152] = raw_call(0x0000000000000000000000000000000000000120, abi_encode(model, data, max_tokens), max_outsize=1152)
    result: Bytes[1024] = abi_decode(out, Bytes[1024])
    self.last = result
    return result

@external
@view
def check(certificate: Bytes[65536]) -> (bool, uint256, uint256):
    out: Bytes[96] = raw_call(0x0000000000000000000000000000000000000118, certificate, max_outsize=96, is_static_call=True)
    return abi_decode(out, (bool, uint256, uint256))
'''


@lru_cache(maxsize=None)
def compiled() -> dict:
    from vyper import compile_code

    out = compile_code(SOURCE, output_formats=["bytecode", "abi"])
    return {"abi": out["abi"], "bytecode": out["bytecode"]}
