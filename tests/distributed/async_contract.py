"""A Vyper contract that uses the asynchronous AI request (0x0121) and its callback."""
from functools import lru_cache

SOURCE = '''
# pragma version 0.4.3
AI_REQUEST: constant(address) = 0x0000000000000000000000000000000000000121

event Delivered:
    request_id: bytes32
    success: bool
    result: Bytes[1024]

last_request: public(bytes32)
results: public(HashMap[bytes32, Bytes[1024]])
succeeded: public(HashMap[bytes32, bool])
certificate_hashes: public(HashMap[bytes32, bytes32])

@external
@payable
def ask(model: String[64], data: Bytes[1024]) -> bytes32:
    sel: bytes4 = method_id("on_ai(bytes32,bool,bytes,bytes)", output_type=bytes4)
    out: Bytes[32] = raw_call(AI_REQUEST, abi_encode(model, data, sel), max_outsize=32, value=msg.value)
    rid: bytes32 = abi_decode(out, bytes32)
    self.last_request = rid
    return rid

@external
def on_ai(request_id: bytes32, success: bool, result: Bytes[1024], certificate: Bytes[65536]):
    assert msg.sender == AI_REQUEST, "only the AIVM may deliver answers"
    self.results[request_id] = result
    self.succeeded[request_id] = success
    self.certificate_hashes[request_id] = keccak256(certificate)
    log Delivered(request_id=request_id, success=success, result=result)
'''


@lru_cache(maxsize=None)
def compiled() -> dict:
    from vyper import compile_code

    out = compile_code(SOURCE, output_formats=["bytecode", "abi"])
    return {"abi": out["abi"], "bytecode": out["bytecode"]}
