# pragma version 0.4.3
# The ethers.js client test's contract: an event, a view, reverts with reasons.

event Stored:
    who: indexed(address)
    value: uint256

value: public(uint256)
owner: public(address)


@deploy
def __init__(initial: uint256):
    self.value = initial
    self.owner = msg.sender


@external
def store(v: uint256):
    assert v != 13, "unlucky number"
    self.value = v
    log Stored(who=msg.sender, value=v)


@view
@external
def get() -> uint256:
    return self.value


@external
def fail():
    raise "always fails"
